"""One Kafka batch sorted into rows to store and messages to dead-letter, and its summaries.

Pure: Kafka and SQL stay at the edges. A batch gets one id per stream, so the drift
service can read exactly the rows that a ``RecordsIngested`` announced.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Container, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, NamedTuple, overload
from uuid import UUID, uuid4

from driftloop_contracts import Event, RecordRejected, RecordsIngested
from driftloop_runtime import Message

from .check import Accepted
from .validation import Kind, Rejection

PAYLOAD_LIMIT = 64 * 1024
"""The most of a rejected message a dead letter carries: escaped as JSON it stays far below
Kafka's default 1 MiB message limit."""


class Row(NamedTuple):
    """A valid record as the store takes it: features and label already as JSON text.

    A named tuple rather than a frozen dataclass: one is built per record, at a fifth of
    the cost.
    """

    stream: str
    record_id: str
    event_time: datetime
    features: str
    label: str | None
    batch_id: UUID
    message: Message


@dataclass(frozen=True, slots=True)
class Reject:
    message: Message
    rejection: Rejection
    payload: str

    @classmethod
    def of(cls, message: Message, rejection: Rejection) -> Reject:
        # An oversize message must not make a dead letter the broker refuses (which would
        # stall the stream): the payload is cut, and the reason says so.
        raw = message.value or b""
        if len(raw) > PAYLOAD_LIMIT:
            raw = raw[:PAYLOAD_LIMIT]
            rejection = replace(
                rejection,
                reason=f"{rejection.reason}; payload cut to its first {PAYLOAD_LIMIT} bytes",
            )
        # Nor one PostgreSQL refuses (its rejected_records row, its outbox row), which would
        # fail the batch forever: no NUL, and names short enough to index.
        rejection = replace(
            rejection,
            field=_name(rejection.field),
            reason=storable(rejection.reason),
            stream=_name(rejection.stream),
            record_id=_name(rejection.record_id),
        )
        return cls(message, rejection, storable(raw.decode("utf-8", "replace")))

    def event(self) -> RecordRejected:
        rejection = self.rejection
        return RecordRejected(
            stream=rejection.stream,
            record_id=rejection.record_id,
            field=rejection.field,
            reason=rejection.reason,
            payload=self.payload,
            source_topic=self.message.topic,
            source_partition=self.message.partition,
            source_offset=self.message.offset,
        )


@dataclass(frozen=True, slots=True)
class Plan:
    rows: list[Row]
    rejects: list[Reject]
    batch_ids: dict[str, UUID] = field(default_factory=dict)
    """One id per registered stream that this batch holds records of, valid or not."""

    def renumbered(self, new_id: Callable[[], UUID] = uuid4) -> Plan:
        """The same plan under new batch ids, as if the batch had been delivered again."""
        ids = {stream: new_id() for stream in self.batch_ids}
        rows = [row._replace(batch_id=ids[row.stream]) for row in self.rows]
        return Plan(rows, self.rejects, ids)


@dataclass(frozen=True, slots=True)
class Stored:
    """What the store kept of one stream's rows: duplicates of stored rows are not counted."""

    stored: int
    labelled: int
    first_event_time: datetime | None
    last_event_time: datetime | None


NOTHING_STORED = Stored(0, 0, None, None)


def plan_batch(
    messages: Sequence[Message],
    verdicts: Sequence[Accepted | Rejection],
    known: Container[str],
    new_id: Callable[[], UUID] = uuid4,
) -> Plan:
    """Rows for the valid records and rejects for the rest, in delivery order."""
    rows: list[Row] = []
    rejects: list[Reject] = []
    batch_ids: dict[str, UUID] = {}
    for message, verdict in zip(messages, verdicts, strict=True):
        stream = verdict.stream
        if stream is not None and stream not in batch_ids and stream in known:
            batch_ids[stream] = new_id()
        if isinstance(verdict, Rejection):
            rejects.append(Reject.of(message, verdict))
            continue
        rows.append(Row(*verdict, batch_ids[verdict.stream], message))
    return Plan(rows, rejects, batch_ids)


def tally(rows: Sequence[Row]) -> dict[str, Stored]:
    """What the store kept of each stream, given the rows it inserted."""
    stored: dict[str, Stored] = {}
    for stream in {row.stream for row in rows}:
        times = [row.event_time for row in rows if row.stream == stream]
        labelled = sum(row.label is not None for row in rows if row.stream == stream)
        stored[stream] = Stored(len(times), labelled, min(times), max(times))
    return stored


@overload
def storable(text: str) -> str: ...
@overload
def storable(text: None) -> None: ...
def storable(text: str | None) -> str | None:
    """``text`` as PostgreSQL's text and jsonb can hold it: a NUL becomes U+FFFD, as the
    bytes that are not UTF-8 already have."""
    return None if text is None else text.replace("\x00", "\ufffd")


NAME_LIMIT = 200
"""The most characters of a rejected record's stream, id or field a dead letter repeats; the
payload has them whole."""


def _name(text: str | None) -> str | None:
    if text is None or len(text) <= NAME_LIMIT:
        return storable(text)
    return storable(f"{text[:NAME_LIMIT]}... ({len(text)} characters)")


def refusal(row: Row, error: str) -> Reject:
    """A row the store would not take although it passed validation: dead-lettered too."""
    rejection = Rejection(
        Kind.UNSTORABLE, None, f"the store refused it: {error}", row.stream, row.record_id
    )
    return Reject.of(row.message, rejection)


@dataclass(frozen=True, slots=True)
class Written:
    """What one store transaction did with a plan."""

    stored: dict[str, Stored]
    refused: list[Reject] = field(default_factory=list)
    """Rows the store would not take although they passed validation, now rejects too."""

    def events(self, plan: Plan) -> list[RecordsIngested | RecordRejected]:
        """The batch's summaries, then a dead letter per reject.

        A redelivered batch sends its dead letters again: the store counts a reject once
        per Kafka position, but a letter lost in a crash must not stay lost.
        """
        letters = [reject.event() for reject in [*plan.rejects, *self.refused]]
        return [*summaries(plan, self), *letters]


def summaries(plan: Plan, written: Written) -> list[RecordsIngested]:
    """One ``RecordsIngested`` per registered stream of the batch."""
    valid = Counter(row.stream for row in plan.rows)
    refusals = Counter(reject.rejection.stream for reject in written.refused)
    rejected = Counter(reject.rejection.stream for reject in plan.rejects) + refusals
    events = []
    for stream, batch_id in plan.batch_ids.items():
        kept = written.stored.get(stream, NOTHING_STORED)
        events.append(
            RecordsIngested(
                stream=stream,
                batch_id=batch_id,
                stored=kept.stored,
                duplicates=valid[stream] - refusals[stream] - kept.stored,
                rejected=rejected[stream],
                labelled=kept.labelled,
                first_event_time=kept.first_event_time,
                last_event_time=kept.last_event_time,
            )
        )
    return events


def event_key(event: Event) -> bytes | None:
    """The Kafka key of an event: its stream, so one stream's summaries stay in order on
    one partition."""
    stream: Any = getattr(event, "stream", None)
    return stream.encode() if isinstance(stream, str) else None
