"""The event base: identity, time, schema version and the ids that chain cause to effect."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar, Self, TypeVar
from uuid import UUID, uuid4

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

EventT = TypeVar("EventT", bound="Event")

# Ids carried from a cause to its effect when both have a field of that name.
_CHAINED = ("stream", "experiment_id", "trial_id", "model_id")


def utcnow() -> datetime:
    return datetime.now(UTC)


class Contract(BaseModel):
    """Frozen, and deaf to fields it does not know: a newer producer breaks no older consumer."""

    model_config = ConfigDict(frozen=True, extra="ignore")


class Event(Contract):
    """A fact on the loop, published to ``topic``.

    ``schema_version`` is the field's default; a subclass raises that default when it
    changes incompatibly, so consumers can refuse versions they do not understand.
    """

    topic: ClassVar[str]

    event_id: UUID = Field(default_factory=uuid4)
    occurred_at: AwareDatetime = Field(default_factory=utcnow)
    causation_id: UUID | None = None
    schema_version: int = 1

    def then(self, effect: type[EventT], /, **fields: Any) -> EventT:
        """Build the event this one caused, carrying its ids forward unless given."""
        carried = {
            name: getattr(self, name)
            for name in _CHAINED
            if name in effect.model_fields and name in type(self).model_fields
        }
        return effect(**{**carried, "causation_id": self.event_id, **fields})

    @classmethod
    def parse(cls, data: bytes | str) -> Self:
        return cls.model_validate_json(data)
