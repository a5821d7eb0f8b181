"""What producers send, and what ingestion says about it."""

from __future__ import annotations

from typing import Annotated, ClassVar
from uuid import UUID

from pydantic import AwareDatetime, Field

from ._base import Contract, Event

StreamName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,62}$")]
RecordId = Annotated[str, Field(min_length=1, max_length=128)]
Value = float | int | str | bool | None


class Record(Contract):
    """The envelope a producer publishes to ``driftloop.records`` as plain JSON.

    No driftloop framing: any Kafka client that can send JSON is a producer. The
    message key should be the record id so redeliveries land on the same partition.
    """

    topic: ClassVar[str] = "driftloop.records"

    stream: StreamName
    record_id: RecordId
    event_time: AwareDatetime
    features: dict[str, Value]
    label: Value = None


class RecordsIngested(Event):
    """A batch of records is durable in the store."""

    topic: ClassVar[str] = "driftloop.records.ingested"

    stream: StreamName
    batch_id: UUID
    stored: int = Field(ge=0)
    duplicates: int = Field(ge=0)
    rejected: int = Field(ge=0)
    labelled: int = Field(ge=0)
    first_event_time: AwareDatetime | None = None
    last_event_time: AwareDatetime | None = None


class RecordRejected(Event):
    """A record that could not be ingested, with the original bytes and the reason."""

    topic: ClassVar[str] = "driftloop.records.deadletter"

    stream: str | None = None
    record_id: str | None = None
    field: str | None = Field(default=None, description="Dotted path of the offending field.")
    reason: str
    payload: str = Field(description="The original message, decoded as UTF-8 with replacement.")
    source_topic: str = "driftloop.records"
    source_partition: int | None = None
    source_offset: int | None = None
