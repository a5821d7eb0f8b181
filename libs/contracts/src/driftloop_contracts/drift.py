"""Drift: a detector saw the data or the model's errors change."""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar

from pydantic import AwareDatetime, Field

from ._base import Event
from .records import StreamName


class DriftSource(StrEnum):
    FEATURES = "features"
    ERRORS = "errors"
    REPORT = "report"


class Severity(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


class DriftDetected(Event):
    """One alarm for one change: the cooldown has already folded repeats into it."""

    topic: ClassVar[str] = "driftloop.drift.detected"

    stream: StreamName
    source: DriftSource
    detector: str = Field(description="Detector name as in the spec, e.g. 'adwin'.")
    features: tuple[str, ...] = ()
    statistic: float
    threshold: float | None = None
    window_start: AwareDatetime
    window_end: AwareDatetime
    records_seen: int = Field(ge=0, description="Records of the stream the detector had seen.")
    severity: Severity
    report_uri: str | None = Field(
        default=None,
        description=(
            "The evidently HTML report, if the producer had it. The drift service publishes"
            " the alarm first and builds the report after it: its link is then stored with"
            " the drift event (drift_events.report_uri)."
        ),
    )
    model_id: str | None = Field(default=None, description="Champion at the time, if any.")
