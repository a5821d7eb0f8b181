"""Everything the drift service watches on one stream, and when an alarm is raised.

A :class:`StreamMonitor` holds, in memory, one :class:`~driftloop_drift.detectors.Watch`
per (source, detector, series) of the stream's spec:

- ``features``: each detector ``on: features`` reads the raw values of each feature it
  watches, from every ingested record, in stream order;
- ``errors``: each detector ``on: errors`` reads a model's per-record errors. With a
  champion serving the stream these are the champion's: its logged predictions joined
  by record id to labels (feedback, or labels on ingested records). With no champion
  yet, the stream's :class:`~driftloop_drift.sentinel.Sentinel` scores each labelled
  record prequentially and its errors are watched instead, so a concept change, which
  moves P(y | x) and not the inputs, is still seen.

An error detector that fires on *fewer* errors saw a model recover, not drift: that is
no alarm. Any other firing is an alarm unless the cooldown folds it into the last one.
After an alarm the stream starts over (fresh detectors, a fresh sentinel to learn the
new concept), so the next alarm needs a next change.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from driftloop_contracts import DriftSource, Severity
from driftloop_spec import DriftDetector, ExperimentSpec

from .cooldown import Cooldown
from .detectors import BUFFER, Detection, Mark, Watch, is_binary
from .joins import Joined, Joins
from .sentinel import Sentinel, error
from .shift import severity

SENTINEL = "sentinel"


@dataclass(frozen=True)
class StoredRecord:
    """An ingested record as drift reads it from the store."""

    record_id: str
    event_time: datetime
    features: dict[str, Any]
    label: Any = None


@dataclass(frozen=True)
class Alarm:
    """A detection the monitor let through: one alarm for one change."""

    detection: Detection
    records: int  # records of the stream the monitor had seen

    @property
    def severity(self) -> Severity:
        return severity(self.detection.shift.effect)


class StreamMonitor:
    """Feed it the stream's records, predictions and feedback; it returns the alarms."""

    def __init__(self, spec: ExperimentSpec, *, buffer: int = BUFFER, joins: int = 100_000):
        self.spec = spec
        trigger = spec.triggers.drift
        detectors = trigger.detectors if trigger else ()
        self.cooldown = Cooldown(trigger.cooldown if trigger else 1)
        self.sentinel = Sentinel(spec.task, spec.features)
        self.joins = Joins(joins)
        self.records = 0
        self.alarms = 0
        self._buffer = buffer
        # A binary detector reads right/wrong, which a regression error is not.
        self._on_errors = [
            d
            for d in detectors
            if d.on == "errors" and (spec.task == "classification" or not is_binary(d.kind))
        ]
        self._features = [
            self._watch(d, DriftSource.FEATURES, name)
            for d in detectors
            if d.on == "features"
            for name in spec.watched_features(d)
        ]
        self._errors: dict[tuple[str, str], Watch] = {}  # (series, kind): made when first fed

    def observe(self, records: Iterable[StoredRecord], champion: str | None) -> list[Alarm]:
        """Ingested records in stream order; ``champion`` is the model serving, if any."""
        alarms: list[Alarm] = []
        for record in records:
            self.records += 1
            mark = Mark(record.record_id, record.event_time)
            for watch in self._features:
                value = record.features.get(watch.series)
                if isinstance(value, int | float):
                    alarms += self._judge(watch.update(float(value), mark), mark)
            if record.label is None or not self._on_errors:
                continue
            if champion is None:
                failed = self.sentinel.score(record.features, record.label)
                alarms += self._error(SENTINEL, failed, mark)
            elif joined := self.joins.label(record.record_id, record.label, record.event_time):
                alarms += self._joined(joined)
        return alarms

    def status(self) -> dict[str, Any]:
        """What it has seen and raised, and what it watches, for people and probes."""
        watches = [*self._features, *self._errors.values()]
        return {
            "records": self.records,
            "alarms": self.alarms,
            "watching": sorted(f"{w.source}:{w.kind}:{w.series}" for w in watches),
        }

    def prediction(self, record_id: str, model_id: str, value: Any, at: datetime) -> list[Alarm]:
        joined = self.joins.prediction(record_id, model_id, value, at)
        return self._joined(joined) if joined else []

    def feedback(self, record_id: str, label: Any, at: datetime) -> list[Alarm]:
        joined = self.joins.label(record_id, label, at)
        return self._joined(joined) if joined else []

    def _joined(self, joined: Joined) -> list[Alarm]:
        failed = error(self.spec.task, joined.prediction, joined.label)
        return self._error(joined.model_id, failed, Mark(joined.record_id, joined.at))

    def _error(self, series: str, value: float | None, mark: Mark) -> list[Alarm]:
        if value is None:
            return []
        alarms: list[Alarm] = []
        for detector in self._on_errors:
            key = (series, detector.kind)
            if key not in self._errors:
                self._errors[key] = self._watch(detector, DriftSource.ERRORS, series)
            alarms += self._judge(self._errors[key].update(value, mark), mark)
        return alarms

    def _judge(self, detection: Detection | None, mark: Mark) -> list[Alarm]:
        if detection is None:
            return []
        if detection.source == DriftSource.ERRORS and not detection.shift.rose:
            return []  # fewer errors: the model recovered
        if self.cooldown.quiet(self.records, mark.at):
            return []
        self.cooldown.start(self.records, mark.at)
        for watch in [*self._features, *self._errors.values()]:
            watch.reset()
        self.sentinel.reset()
        self.alarms += 1
        return [Alarm(detection, self.records)]

    def _watch(self, detector: DriftDetector, source: DriftSource, series: str) -> Watch:
        params: dict[str, Any] = dict(detector.params)
        if detector.kind == "kswin":
            # KSWIN samples at random: seeded, a replay of the stream alarms at the same record.
            params.setdefault("seed", self.spec.seed)
        return Watch(detector.kind, params, source=source, series=series, buffer=self._buffer)
