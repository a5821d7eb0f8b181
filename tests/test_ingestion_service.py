"""The ingestor with an in-memory store, then its Kafka handler on FastStream's test broker."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any
from unittest.mock import MagicMock

import pytest
from faststream.kafka import KafkaBroker, TestKafkaBroker

import driftloop_ingestion
from driftloop_contracts import Event, Record, RecordRejected, RecordsIngested
from driftloop_ingestion.batch import Plan, Reject, Row, Stored, Written
from driftloop_ingestion.handlers import ingestion_router
from driftloop_ingestion.ingest import Ingestor
from driftloop_ingestion.validation import StreamSchema
from driftloop_runtime import Message

ORDERS = StreamSchema("orders", {"amount": "float"}, "fraud", "classification")
REFUNDS = StreamSchema("refunds", {"amount": "float"}, "reason")


class FakeStore:
    """The store's contract in memory: a row per (stream, record id), a reject per position."""

    def __init__(self, *schemas: StreamSchema) -> None:
        self.streams = {schema.name: schema for schema in schemas}
        self.loads = 0
        self.rows: dict[tuple[str, str], Row] = {}
        self.rejects: dict[tuple[str, int, int], Reject] = {}
        self.commits = 0
        self.failure: Exception | None = None
        self.outbox: dict[int, Event] = {}

    async def schemas(self) -> dict[str, StreamSchema]:
        self.loads += 1
        return dict(self.streams)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[FakeWriter]:
        writer = FakeWriter(self)
        yield writer
        if self.failure:
            raise self.failure
        self.rows = {**writer.rows, **self.rows}
        self.rejects = {**writer.rejects, **self.rejects}
        self.outbox.update(writer.outbox)
        self.commits += 1

    async def published(self, ids: Sequence[int]) -> None:
        for id_ in ids:
            self.outbox.pop(id_, None)

    @asynccontextmanager
    async def stale(self, older_than: float, limit: int) -> AsyncIterator[list[Event]]:
        claimed = dict(list(self.outbox.items())[:limit])
        yield list(claimed.values())
        for id_ in claimed:
            del self.outbox[id_]


class FakeWriter:
    def __init__(self, store: FakeStore) -> None:
        self.store = store
        self.rows: dict[tuple[str, str], Row] = {}
        self.rejects: dict[tuple[str, int, int], Reject] = {}
        self.outbox: dict[int, Event] = {}

    async def enqueue(self, events: Sequence[Event]) -> list[int]:
        first = max([*self.store.outbox, *self.outbox], default=0) + 1
        ids = list(range(first, first + len(events)))
        self.outbox.update(zip(ids, events, strict=True))
        return ids

    async def write(self, plan: Plan) -> Written:
        stored: dict[str, Stored] = {}
        for row in plan.rows:
            key = (row.stream, row.record_id)
            if key in self.store.rows or key in self.rows:
                continue
            self.rows[key] = row
            was = stored.get(row.stream, Stored(0, 0, row.event_time, row.event_time))
            assert was.first_event_time and was.last_event_time
            stored[row.stream] = Stored(
                was.stored + 1,
                was.labelled + (row.label is not None),
                min(was.first_event_time, row.event_time),
                max(was.last_event_time, row.event_time),
            )
        for reject in plan.rejects:
            self.rejects.setdefault(reject.message.position, reject)
        return Written(stored)


class Broker:
    """Publishes by appending, after failing as many times as it is told to."""

    def __init__(self, store: FakeStore, failures: int = 0) -> None:
        self.store, self.failures = store, failures
        self.events: list[Event] = []
        self.commits_seen: list[int] = []

    async def publish(self, events: Sequence[Event]) -> None:
        self.commits_seen.append(self.store.commits)
        if self.failures:
            self.failures -= 1
            raise ConnectionError("broker unavailable")
        self.events.extend(events)

    def of(self, kind: type[Event]) -> list[Any]:
        return [event for event in self.events if isinstance(event, kind)]


async def no_sleep(delay: float) -> None:
    return None


def ingestor(store: FakeStore, broker: Broker, ttl: float = 60.0) -> Ingestor:
    return Ingestor(store, broker.publish, max_record_bytes=4096, schema_ttl=ttl, sleep=no_sleep)


def record(record_id: str, stream: str = "orders", **changes: Any) -> bytes:
    return json.dumps(
        {
            "stream": stream,
            "record_id": record_id,
            "event_time": f"2026-11-23T12:00:{int(record_id[-1]):02d}Z",
            "features": {"amount": 1.5},
            "label": 1,
        }
        | changes
    ).encode()


def delivered(*values: bytes, first_offset: int = 0) -> list[Message]:
    return [Message(Record.topic, 0, first_offset + i, v) for i, v in enumerate(values)]


async def test_a_batch_is_stored_then_summarised_per_stream_with_its_batch_id() -> None:
    store = FakeStore(ORDERS, REFUNDS)
    broker = Broker(store)
    await ingestor(store, broker).ingest(
        delivered(
            record("o-1", label=None),
            record("r-2", "refunds"),
            record("o-3"),
            record("o-4", features={"amount": "lots"}),
        )
    )
    orders, refunds = broker.of(RecordsIngested)
    assert (orders.stream, orders.stored, orders.labelled, orders.rejected) == ("orders", 2, 1, 1)
    assert (orders.first_event_time, orders.last_event_time) == (
        datetime(2026, 11, 23, 12, 0, 1, tzinfo=UTC),
        datetime(2026, 11, 23, 12, 0, 3, tzinfo=UTC),
    )
    assert (refunds.stream, refunds.stored, refunds.rejected) == ("refunds", 1, 0)
    assert orders.batch_id != refunds.batch_id
    assert {row.record_id for row in store.rows.values() if row.batch_id == orders.batch_id} == {
        "o-1",
        "o-3",
    }
    (letter,) = broker.of(RecordRejected)
    assert (letter.record_id, letter.field, letter.source_offset) == ("o-4", "features.amount", 3)
    assert broker.commits_seen == [1]  # announced only after the commit


async def test_a_redelivered_batch_stores_nothing_twice_and_counts_duplicates() -> None:
    store = FakeStore(ORDERS)
    broker = Broker(store)
    batch = delivered(record("o-1"), record("o-2"), b"garbage")
    ingest = ingestor(store, broker)
    await ingest.ingest(batch)
    await ingest.ingest(batch)
    first, second = broker.of(RecordsIngested)
    assert (first.stored, first.duplicates) == (2, 0)
    assert (second.stored, second.duplicates) == (0, 2)
    assert len(store.rows) == 2 and len(store.rejects) == 1
    # Dead letters go out at least once: the second delivery sends its letter again.
    assert len(broker.of(RecordRejected)) == 2


async def test_the_same_record_twice_in_one_batch_is_stored_once() -> None:
    store = FakeStore(ORDERS)
    broker = Broker(store)
    await ingestor(store, broker).ingest(delivered(record("o-1"), record("o-1")))
    (summary,) = broker.of(RecordsIngested)
    assert (summary.stored, summary.duplicates) == (1, 1)


async def test_a_stream_registered_after_the_schemas_were_read_is_accepted_at_once() -> None:
    store = FakeStore(ORDERS)
    broker = Broker(store)
    ingest = ingestor(store, broker, ttl=3600)
    await ingest.ingest(delivered(record("o-1")))
    store.streams["refunds"] = REFUNDS
    await ingest.ingest(delivered(record("r-1", "refunds"), first_offset=1))
    assert ("refunds", "r-1") in store.rows
    assert not broker.of(RecordRejected)


async def test_schemas_are_read_once_within_their_ttl_unless_a_stream_is_unknown() -> None:
    store = FakeStore(ORDERS)
    ingest = ingestor(store, Broker(store), ttl=3600)
    for offset in range(3):
        await ingest.ingest(delivered(record(f"o-{offset}"), first_offset=offset))
    assert store.loads == 1
    await ingest.ingest(delivered(record("x-1", "nobody"), first_offset=9))
    assert store.loads == 2


async def test_a_record_of_an_unregistered_stream_is_dead_lettered_without_a_summary() -> None:
    store = FakeStore(ORDERS)
    broker = Broker(store)
    await ingestor(store, broker).ingest(delivered(record("x-1", "nobody")))
    assert not broker.of(RecordsIngested)
    (letter,) = broker.of(RecordRejected)
    assert (letter.stream, letter.field) == ("nobody", "stream")


async def test_a_store_failure_raises_and_announces_nothing() -> None:
    store = FakeStore(ORDERS)
    store.failure = ConnectionError("database unreachable")
    broker = Broker(store)
    with pytest.raises(ConnectionError):
        await ingestor(store, broker).ingest(delivered(record("o-1")))
    assert not broker.events and not store.rows


async def test_a_stored_batch_is_announced_however_many_times_the_broker_fails_first() -> None:
    store = FakeStore(ORDERS)
    broker = Broker(store, failures=3)
    await ingestor(store, broker).ingest(delivered(record("o-1")))
    assert store.commits == 1  # stored once, not once per attempt
    assert len(broker.of(RecordsIngested)) == 1


async def test_a_message_that_breaks_the_validator_is_dead_lettered_not_retried(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(*args: Any) -> Any:
        raise RuntimeError("bug")

    monkeypatch.setattr("driftloop_ingestion.ingest.validate", broken)
    store = FakeStore(ORDERS)
    broker = Broker(store)
    await ingestor(store, broker).ingest(delivered(record("o-1")))
    (letter,) = broker.of(RecordRejected)
    assert "validation failed: RuntimeError('bug')" in letter.reason


async def test_an_oversize_message_is_dead_lettered_with_its_payload_cut() -> None:
    store = FakeStore(ORDERS)
    broker = Broker(store)
    huge = b"x" * 100_000
    await ingestor(store, broker).ingest(delivered(huge))
    (letter,) = broker.of(RecordRejected)
    assert len(letter.payload) == 64 * 1024
    assert letter.reason.startswith("message is 100000 bytes; the limit is 4096")
    assert letter.reason.endswith("payload cut to its first 65536 bytes")


# The handler, on FastStream's in-memory broker: raw bytes in, events out.


def test_the_public_surface_is_the_app_and_its_settings() -> None:
    assert driftloop_ingestion.__all__ == ["Settings", "create_app"]


@asynccontextmanager
async def handler(store: FakeStore) -> AsyncIterator[tuple[KafkaBroker, MagicMock, MagicMock]]:
    broker = KafkaBroker()
    broker.include_router(ingestion_router(driftloop_ingestion.Settings(), store))
    summaries, letters = MagicMock(), MagicMock()

    @broker.subscriber(RecordsIngested.topic)
    async def on_ingested(event: RecordsIngested) -> None:
        summaries(event)

    @broker.subscriber(RecordRejected.topic)
    async def on_rejected(event: RecordRejected) -> None:
        letters(event)

    async with TestKafkaBroker(broker) as test_broker:
        yield test_broker, summaries, letters


async def test_the_handler_takes_raw_bytes_so_garbage_does_not_fail_its_batch() -> None:
    store = FakeStore(ORDERS)
    async with handler(store) as (broker, summaries, letters):
        await broker.publish_batch(
            record("o-1"), b"\xff\xfe", b"[1, 2]", record("o-2"), topic=Record.topic
        )
    assert set(store.rows) == {("orders", "o-1"), ("orders", "o-2")}
    (summary,) = [call.args[0] for call in summaries.call_args_list]
    assert (summary.stored, summary.rejected) == (2, 0)
    reasons = sorted(call.args[0].reason for call in letters.call_args_list)
    assert reasons[0].startswith("not JSON")
    assert reasons[1] == "not a JSON object"


async def test_the_handler_fails_the_batch_when_the_store_fails() -> None:
    store = FakeStore(ORDERS)
    store.failure = ConnectionError("database unreachable")
    async with handler(store) as (broker, summaries, _):
        with pytest.raises(ConnectionError):
            await broker.publish(record("o-1"), topic=Record.topic)
    summaries.assert_not_called()
