"""Kafka batches as delivered: raw bytes with their positions, for handlers that must see
messages FastStream could not parse (bytes that are not JSON, events of unknown shape)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from faststream.kafka.message import KafkaMessage
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


def parse_event(consumed: Mapping[str, type[Event]], message: Message) -> Event | None:
    """The event ``message`` holds, read by its topic's type; None, with the reason logged,
    when it is not a valid event, so one bad message cannot stall a consumer."""
    try:
        return consumed[message.topic].parse(message.value or b"")
    except ValidationError as exc:
        logger.error("skipping a message on %s that is not a valid event: %s", message.topic, exc)
        return None


async def as_raw(message: KafkaMessage) -> list[Message]:
    """FastStream decoder for batch subscribers: each message's bytes, unparsed."""
    return [
        Message(record.topic, record.partition, record.offset, record.value)
        for record in message.raw_message
    ]


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
