"""The event base: identity, time, schema version and the ids that chain cause to effect."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar, Self, TypeVar
from uuid import UUID, uuid4

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

EventT = TypeVar("EventT", bound="Event")

# Ids carried from a cause to its effect when both have a field of that name.
_CHAINED = ("stream", "experiment_id", "trial_id", "model_id")

# JSON can carry a NUL only escaped: raw control characters are invalid in its strings.
_NUL_ESCAPE = b"\\u0000"


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

    @field_validator("schema_version")
    @classmethod
    def _understood(cls, version: int) -> int:
        # Older versions stay readable (a log outlives a deploy); a newer one may mean
        # something this code would get wrong.
        known = cls.model_fields["schema_version"].default
        if not 1 <= version <= known:
            raise ValueError(f"version {version} is not understood here, which reads 1 to {known}")
        return version

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
        """The event in ``data`` (JSON), as a consumer reads it. Raises ``ValidationError``
        for anything else, and for an event holding a NUL character: PostgreSQL cannot
        store one in text or jsonb, so such an event could only ever fail its handler."""
        event = cls.model_validate_json(data)
        raw = data.encode() if isinstance(data, str) else data
        if _NUL_ESCAPE in raw and (where := _nul_in(event.model_dump())) is not None:
            error = PydanticCustomError("nul_character", "contains a NUL character (\\u0000)")
            detail = InitErrorDetails(type=error, loc=where, input=data)
            raise ValidationError.from_exception_data(cls.__name__, [detail])
        return event


def _nul_in(value: Any, at: tuple[str | int, ...] = ()) -> tuple[str | int, ...] | None:
    """Where in ``value`` a string (or a mapping's key) holds a NUL; None if nowhere."""
    if isinstance(value, str):
        return at if "\x00" in value else None
    if isinstance(value, dict):
        items: Any = value.items()
    elif isinstance(value, list | tuple):
        items = enumerate(value)
    else:
        return None
    for key, item in items:
        if isinstance(key, str) and "\x00" in key:
            return (*at, key)
        if (found := _nul_in(item, (*at, key))) is not None:
            return found
    return None
