"""River detectors as the spec names them, each watching one series of one stream.

A :class:`Watch` is one detector on one series: a feature's raw values, or a model's
per-record errors. It keeps the values it saw since it last started over, so when the
detector fires the watch can say where the change began and how large it is
(:mod:`driftloop_drift.shift`). Binary detectors (DDM, EDDM, HDDM, FHDDM) read
right/wrong: they get ``error > 0``, except FHDDM, which watches for a *drop* in its
input and is therefore fed ``1 - error`` (river 0.26).

>>> from datetime import UTC, datetime
>>> watch = Watch("adwin", {"delta": 0.002}, source=DriftSource.FEATURES, series="x")
>>> values = [0.0, 1.0] * 200 + [5.0, 6.0] * 200
>>> now = datetime.now(UTC)
>>> alarms = [watch.update(v, Mark(str(i), now)) for i, v in enumerate(values)]
>>> [(a.alarm.record_id, a.change.record_id) for a in alarms if a]
[('415', '400')]
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple, Protocol

from river import drift
from river.base import BinaryDriftDetector
from river.drift import binary

from driftloop_contracts import DriftSource
from driftloop_spec import DetectorKind

from .shift import MIN_SIDE, Shift, locate_shift

logger = logging.getLogger("driftloop.drift")


class RiverDetector(Protocol):
    def update(self, x: Any) -> Any: ...

    @property
    def drift_detected(self) -> bool: ...


KINDS: dict[DetectorKind, Callable[..., RiverDetector]] = {
    "adwin": drift.ADWIN,
    "kswin": drift.KSWIN,
    "page_hinkley": drift.PageHinkley,
    "ddm": binary.DDM,
    "eddm": binary.EDDM,
    "hddm_a": binary.HDDMA,
    "hddm_w": binary.HDDMW,
    "fhddm": binary.FHDDM,
}
# The attribute that holds each detector's sensitivity: reported as the alarm's threshold.
SENSITIVITY: dict[DetectorKind, str] = {
    "adwin": "delta",
    "kswin": "alpha",
    "page_hinkley": "threshold",
    "ddm": "drift_threshold",
    "eddm": "beta",
    "hddm_a": "drift_confidence",
    "hddm_w": "drift_confidence",
    "fhddm": "confidence_level",
}
# Enough history to place a change that took a few thousand records to show.
BUFFER = 4000

Params = Mapping[str, float | int | bool | str]


class Mark(NamedTuple):
    """Which record a value came from, so evidence can name records and times."""

    record_id: str
    at: datetime


@dataclass(frozen=True)
class Detection:
    """A detector fired on ``series``; ``shift`` says what changed, the marks where."""

    source: DriftSource
    kind: DetectorKind
    series: str
    params: dict[str, Any]
    shift: Shift
    change: Mark
    alarm: Mark
    seen: int
    threshold: float | None  # the detector's sensitivity setting, given or default


def is_binary(kind: DetectorKind) -> bool:
    factory = KINDS[kind]
    return isinstance(factory, type) and issubclass(factory, BinaryDriftDetector)


class Watch:
    """One detector on one series: a feature's values (``series`` names the feature) or a
    model's errors (``series`` names the model, or the sentinel)."""

    def __init__(
        self,
        kind: DetectorKind,
        params: Params,
        *,
        source: DriftSource,
        series: str,
        buffer: int = BUFFER,
    ) -> None:
        self.kind, self.params = kind, dict(params)
        self.source, self.series = source, series
        self.seen = 0  # values since the service started: never reset
        self.stopped = False
        self._values: deque[float] = deque(maxlen=buffer)
        self._marks: deque[Mark] = deque(maxlen=buffer)
        self._feed: Callable[[float], Any] = float
        if is_binary(kind):
            self._feed = (lambda e: e <= 0) if kind == "fhddm" else (lambda e: e > 0)
        self.reset()

    def reset(self) -> None:
        """Start over: a fresh detector and no history, as after a change."""
        self._values.clear()
        self._marks.clear()
        if not self.stopped:
            try:
                self._detector = KINDS[self.kind](**self.params)
            except Exception:
                self._stop()

    def update(self, value: float, mark: Mark) -> Detection | None:
        """Feed one value; a :class:`Detection` when the detector fires on it."""
        if self.stopped:
            return None
        self.seen += 1
        self._values.append(value)
        self._marks.append(mark)
        try:
            self._detector.update(self._feed(value))
        except Exception:
            self._stop()
            return None
        if not self._detector.drift_detected:
            return None
        if len(self._values) < 2 * MIN_SIDE:
            return None  # too few values to say what changed
        shift = locate_shift(list(self._values))
        change = self._marks[shift.index]
        threshold = getattr(self._detector, SENSITIVITY[self.kind], None)
        self.reset()  # a watch that fired starts over: the next change counts from here
        return Detection(
            source=self.source,
            kind=self.kind,
            series=self.series,
            params=self.params,
            shift=shift,
            change=change,
            alarm=mark,
            seen=self.seen,
            threshold=float(threshold) if isinstance(threshold, int | float) else None,
        )

    def _stop(self) -> None:
        # The spec checks parameter names, not values, and river may refuse a value when
        # built or first fed (a delta given as text): this watch stops, the others go on.
        logger.exception("%s on %s failed; it watches no more", self.kind, self.series)
        self.stopped = True
