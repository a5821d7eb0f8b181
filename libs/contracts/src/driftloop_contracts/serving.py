"""What serving says about each prediction it makes."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field

from ._base import Event
from .records import RecordId, StreamName, Value


class PredictionLogged(Event):
    """Serving answered a request: the record, the prediction and the model that made it."""

    topic: ClassVar[str] = "driftloop.prediction.logged"

    stream: StreamName
    record_id: RecordId
    model_id: str
    model_version: int = Field(ge=1)
    features: dict[str, Value]
    prediction: Value
    probability: float | None = None


class FeedbackReceived(Event):
    """A true label for a record that was scored earlier, joined by record id."""

    topic: ClassVar[str] = "driftloop.feedback.received"

    stream: StreamName
    record_id: RecordId
    label: Value
    extra: dict[str, Any] = Field(default_factory=dict)
