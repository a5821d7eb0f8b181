"""The alert: the JSON message a webhook receives, one per thing a person should know about."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Self
from uuid import UUID, uuid4

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from driftloop_spec import ALERT_EVENTS, AlertEvent

# The kinds are the spec's alert events, so a hook's ``events`` and an alert's ``kind``
# can never disagree on a name.
AlertKind = AlertEvent
ALERT_KINDS: tuple[AlertKind, ...] = ALERT_EVENTS


def _utcnow() -> datetime:
    return datetime.now(UTC)


class Alert(BaseModel):
    """What happened, to which stream, and why, as a receiver reads it.

    The webhook body is exactly ``model_dump_json()``; receivers may parse it back with
    ``Alert.parse``. Unknown fields are ignored, so a newer sender breaks no older receiver,
    and ``schema_version`` rises when a change is incompatible. ``id`` is the same on every
    attempt (and in the ``X-Driftloop-Alert-Id`` header), so a receiver can drop repeats.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    id: UUID = Field(default_factory=uuid4)
    kind: AlertKind
    stream: str | None = Field(default=None, description="None for alerts about no one stream.")
    occurred_at: AwareDatetime = Field(default_factory=_utcnow)
    summary: str = Field(min_length=1, description="One line a person can read in a chat.")
    details: dict[str, Any] = Field(default_factory=dict)
    causation_id: UUID | None = Field(default=None, description="The event that caused it.")
    schema_version: int = 1

    def body(self) -> bytes:
        """The bytes sent and signed; computed once per alert, not per attempt."""
        return self.model_dump_json().encode()

    @classmethod
    def parse(cls, data: bytes | str) -> Self:
        return cls.model_validate_json(data)
