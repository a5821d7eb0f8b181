"""Kafka batches as delivered: raw bytes with their positions, for handlers that must see
messages FastStream could not parse (bytes that are not JSON, events of unknown shape)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from faststream.kafka.message import KafkaMessage
from pydantic import WithJsonSchema


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


async def as_raw(message: KafkaMessage) -> list[Message]:
    """FastStream decoder for batch subscribers: each message's bytes, unparsed."""
    return [
        Message(record.topic, record.partition, record.offset, record.value)
        for record in message.raw_message
    ]


def batch_schema(item_schema: dict[str, Any]) -> WithJsonSchema:
    """What AsyncAPI shows for a raw batch parameter, unvalidated in the handler::

    Delivered = Annotated[list[Message], SkipValidation, batch_schema(Record.model_json_schema())]
    """
    return WithJsonSchema({"type": "array", "items": item_schema})
