"""Kafka batches as delivered: raw bytes with their positions, for handlers that must see
messages FastStream could not parse (bytes that are not JSON, events of unknown shape).

A consumer skips, with the reason logged, what it could never handle: a message that is
no valid event (``parse_event``), and an event whose values the store refuses
(``unless_refused``). Retrying either would fail the same way, and stall every message
behind it in its partition.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from faststream.kafka.message import KafkaMessage
from psycopg import DataError, IntegrityError
from psycopg.errors import ProgramLimitExceeded
from pydantic import BaseModel, ValidationError, WithJsonSchema

from driftloop_contracts import Event

logger = logging.getLogger("driftloop")


@dataclass(frozen=True, slots=True)
class Message:
    """A message as Kafka delivered it: its position is its identity."""

    topic: str
    partition: int
    offset: int
    value: bytes | None

    @property
    def position(self) -> tuple[str, int, int]:
        return self.topic, self.partition, self.offset


REFUSALS = (DataError, IntegrityError, ProgramLimitExceeded)
"""What PostgreSQL answers to values it will never take (a NaN in jsonb, a key too long to
index, a reference to nothing), unlike an outage, which passes."""


def parse_event(consumed: Mapping[str, type[Event]], message: Message) -> Event | None:
    """The event ``message`` holds, read by its topic's type; None, with the reason logged,
    when it is not a valid event (``Event.parse``), so one bad message cannot stall a
    consumer."""
    kind = consumed[message.topic]
    try:
        return kind.parse(message.value or b"")
    except ValidationError as exc:
        logger.error(
            "skipping the message at %s:%d:%d, not a valid %s: %s",
            *message.position,
            kind.__name__,
            exc,
        )
        return None


@contextmanager
def unless_refused(message: Message, event: Event) -> Iterator[None]:
    """Handle ``event`` in the block; should the store refuse its values, log why and skip
    it. The block's transaction has rolled back by then, so nothing of it stays."""
    try:
        yield
    except REFUSALS as exc:
        logger.error(
            "skipping %s %s at %s:%d:%d: the store refused it: %s",
            type(event).__name__,
            event.event_id,
            *message.position,
            exc,
        )


async def as_raw(message: KafkaMessage) -> list[Message]:
    """FastStream decoder for batch subscribers: each message's bytes, unparsed."""
    return [
        Message(record.topic, record.partition, record.offset, record.value)
        for record in message.raw_message
    ]


async def as_raw_one(message: KafkaMessage) -> Message:
    """FastStream decoder for subscribers of one message at a time: its bytes, unparsed."""
    record: Any = message.raw_message
    return Message(record.topic, record.partition, record.offset, record.value)


def batch_schema(*items: type[BaseModel]) -> WithJsonSchema:
    """What AsyncAPI shows for a raw batch parameter, unvalidated in the handler::

        Delivered = Annotated[list[Message], SkipValidation, batch_schema(Record)]

    Each model's ``$defs`` (its enums) are written in place: FastStream cannot follow
    references local to one member of a ``oneOf``.
    """
    schemas = [inlined(item.model_json_schema()) for item in items]
    return WithJsonSchema(
        {"type": "array", "items": schemas[0] if len(schemas) == 1 else {"oneOf": schemas}}
    )


def message_schema(item: type[BaseModel]) -> WithJsonSchema:
    """What AsyncAPI shows for one raw message parameter, unvalidated in the handler::

    Delivered = Annotated[Message, SkipValidation, message_schema(ModelPromoted)]
    """
    return WithJsonSchema(inlined(item.model_json_schema()))


def inlined(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` with every ``#/$defs/...`` reference replaced by its definition."""
    defs = schema.get("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            if isinstance(ref := node.get("$ref"), str) and ref.startswith("#/$defs/"):
                return resolve(defs[ref.removeprefix("#/$defs/")])
            return {key: resolve(value) for key, value in node.items() if key != "$defs"}
        if isinstance(node, list):
            return [resolve(item) for item in node]
        return node

    resolved: dict[str, Any] = resolve(schema)
    return resolved
