"""The contracts of driftloop: every event on the loop and the record producers send.

Events are frozen pydantic models. Each carries its Kafka topic (``Event.topic``), a
schema version, an event id, a timestamp, the id of the event that caused it, and the
stream / experiment / trial / model ids that apply. Unknown fields are ignored.
"""

from ._base import Contract, Event, utcnow
from .drift import DriftDetected, DriftSource, Severity
from .experiments import (
    ControlAction,
    ExperimentCompleted,
    ExperimentControlRequested,
    ExperimentRequested,
    ExperimentStarted,
    ExperimentStatus,
    Metrics,
    Params,
    TrialCompleted,
    TrialFailed,
    TrialRequested,
    Trigger,
)
from .models import (
    ApprovalGiven,
    ApprovalRequested,
    ModelPromoted,
    PromotionDecided,
    PromotionReason,
    RollbackRequested,
    Verdict,
)
from .records import Record, RecordId, RecordRejected, RecordsIngested, StreamName, Value
from .serving import FeedbackReceived, PredictionLogged

EVENTS: tuple[type[Event], ...] = (
    RecordsIngested,
    RecordRejected,
    DriftDetected,
    ExperimentRequested,
    ExperimentControlRequested,
    ExperimentStarted,
    TrialRequested,
    TrialCompleted,
    TrialFailed,
    ExperimentCompleted,
    PromotionDecided,
    ApprovalRequested,
    ApprovalGiven,
    RollbackRequested,
    ModelPromoted,
    PredictionLogged,
    FeedbackReceived,
)
"""Every event type on the loop, in the order the loop runs."""

TOPICS: tuple[str, ...] = (Record.topic, *(event.topic for event in EVENTS))
"""Every Kafka topic driftloop uses: the raw records topic, then one per event type."""

__all__ = [
    "EVENTS",
    "TOPICS",
    "ApprovalGiven",
    "ApprovalRequested",
    "Contract",
    "ControlAction",
    "DriftDetected",
    "DriftSource",
    "Event",
    "ExperimentCompleted",
    "ExperimentControlRequested",
    "ExperimentRequested",
    "ExperimentStarted",
    "ExperimentStatus",
    "FeedbackReceived",
    "Metrics",
    "ModelPromoted",
    "Params",
    "PredictionLogged",
    "PromotionDecided",
    "PromotionReason",
    "Record",
    "RecordId",
    "RecordRejected",
    "RecordsIngested",
    "RollbackRequested",
    "Severity",
    "StreamName",
    "TrialCompleted",
    "TrialFailed",
    "TrialRequested",
    "Trigger",
    "Value",
    "Verdict",
    "utcnow",
]
