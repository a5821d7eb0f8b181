"""What starts an experiment: drift detectors on features or errors, and a schedule."""

from __future__ import annotations

from datetime import timedelta
from typing import Literal, Self

from pydantic import Field, field_validator, model_validator

from ._base import SpecModel, problem
from ._cron import check_cron
from ._durations import Duration, parse_duration

DetectorKind = Literal["adwin", "kswin", "page_hinkley", "ddm", "eddm", "hddm_a", "hddm_w", "fhddm"]

# Parameters of the river 0.26 detector each kind names: a misspelt one is an error
# here rather than a TypeError in the drift service.
DETECTOR_PARAMS: dict[DetectorKind, frozenset[str]] = {
    "adwin": frozenset({"delta", "clock", "max_buckets", "min_window_length", "grace_period"}),
    "kswin": frozenset({"alpha", "window_size", "stat_size", "seed", "window"}),
    "page_hinkley": frozenset({"min_instances", "delta", "threshold", "alpha", "mode"}),
    "ddm": frozenset({"warm_start", "warning_threshold", "drift_threshold"}),
    "eddm": frozenset({"warm_start", "alpha", "beta"}),
    "hddm_a": frozenset({"drift_confidence", "warning_confidence", "two_sided_test"}),
    "hddm_w": frozenset({"drift_confidence", "warning_confidence", "lambda_val", "two_sided_test"}),
    "fhddm": frozenset({"sliding_window_size", "confidence_level", "short_window_size"}),
}
# Value ranges river does not check itself: some out-of-range values panic in its Rust
# core on the first update, which no Python handler can catch. (low, high, open interval?)
Range = tuple[float, float | None, bool]
_UNIT: Range = (0.0, 1.0, True)
_COUNT: Range = (1, None, False)
PARAM_RANGES: dict[str, Range] = {
    "clock": _COUNT,
    "max_buckets": _COUNT,
    "min_window_length": _COUNT,
    "grace_period": _COUNT,
    "window_size": _COUNT,
    "stat_size": _COUNT,
    "min_instances": _COUNT,
    "warm_start": _COUNT,
    "sliding_window_size": _COUNT,
    "short_window_size": _COUNT,
    "alpha": _UNIT,
    "beta": _UNIT,
    "drift_confidence": _UNIT,
    "warning_confidence": _UNIT,
    "confidence_level": _UNIT,
    "lambda_val": _UNIT,
    "threshold": (0.0, None, True),
    "warning_threshold": (0.0, None, True),
    "drift_threshold": (0.0, None, True),
}


def _out_of_range(kind: str, name: str, value: object) -> str | None:
    if kind == "page_hinkley" and name == "mode":
        return None if value in ("up", "down", "both") else "must be up, down or both"
    bounds: Range
    if name == "delta":  # ADWIN's confidence is a probability; Page-Hinkley's a magnitude
        bounds = _UNIT if kind == "adwin" else (0.0, None, False)
    elif (found := PARAM_RANGES.get(name)) is None:
        return None
    else:
        bounds = found
    low, high, open_interval = bounds
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "must be a number"
    if bounds is _COUNT and not isinstance(value, int):
        return "must be a whole number"
    if value < low or (open_interval and value == low):
        return f"must be {'greater than' if open_interval else 'at least'} {low:g}"
    if high is not None and (value > high or (open_interval and value == high)):
        return f"must be {'less than' if open_interval else 'at most'} {high:g}"
    return None


# These read a stream of right/wrong, so they can only watch the model's errors.
ERROR_ONLY: frozenset[DetectorKind] = frozenset({"ddm", "eddm", "hddm_a", "hddm_w", "fhddm"})

ParamValue = float | int | bool | str


class DriftDetector(SpecModel):
    """One river detector, on the model's errors or on some (``all``: every numeric) feature."""

    kind: DetectorKind
    on: Literal["features", "errors"] = "errors"
    features: tuple[str, ...] | Literal["all"] | None = None
    params: dict[str, ParamValue] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.on == "errors" and self.features is not None:
            raise problem(("features",), "only detectors on features watch features")
        if self.on == "features" and self.kind in ERROR_ONLY:
            raise problem(("on",), f"{self.kind} reads right/wrong outcomes; use on: errors")
        if self.features == ():
            raise problem(("features",), "name at least one feature, or all")
        for name in self.params:
            if name not in DETECTOR_PARAMS[self.kind]:
                allowed = ", ".join(sorted(DETECTOR_PARAMS[self.kind]))
                raise problem(("params", name), f"{self.kind} has no such parameter ({allowed})")
            if (reason := _out_of_range(self.kind, name, self.params[name])) is not None:
                raise problem(("params", name), reason)
        return self

    @property
    def watched(self) -> tuple[str, ...] | Literal["all"]:
        """The features watched: ``()`` for an error detector, ``"all"`` when unnamed."""
        if self.on == "errors":
            return ()
        return self.features if self.features is not None else "all"


def parse_cooldown(value: object) -> int | timedelta:
    """A whole number is records; anything else must be a duration with a unit."""
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 1:
            raise ValueError("must be at least 1 record")
        return value
    if isinstance(value, str) and value.strip().isdigit():
        raise ValueError('a bare number is records, so write it unquoted; or give a unit: "10m"')
    return parse_duration(value)


class DriftTrigger(SpecModel):
    """Detectors whose alarm starts an experiment; ``cooldown`` (records, or a duration
    like "10m") silences them after an alarm so that one drift is one experiment."""

    detectors: tuple[DriftDetector, ...] = (DriftDetector(kind="adwin", on="errors"),)
    cooldown: int | Duration = 1000

    @field_validator("cooldown", mode="before")
    @classmethod
    def _cooldown(cls, value: object) -> object:
        return parse_cooldown(value)


class Schedule(SpecModel):
    """A periodic trigger: ``every`` a duration, or a five-field ``cron`` expression (UTC)."""

    every: Duration | None = None
    cron: str | None = None

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        return None if value is None else check_cron(value)

    @model_validator(mode="after")
    def _one(self) -> Self:
        if (self.every is None) == (self.cron is None):
            raise ValueError("give either every (a duration) or cron, not both or neither")
        return self


class Triggers(SpecModel):
    """Drift detection is on by default (ADWIN on errors); ``drift: null`` or an empty
    ``detectors`` list turns it off. A schedule is off unless given."""

    drift: DriftTrigger | None = DriftTrigger()
    schedule: Schedule | None = None
