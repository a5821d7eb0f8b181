"""The ingestor with an in-memory store, its Kafka handler on FastStream's test broker, and
the pipeline that stores one batch while the next is validated."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any
from unittest.mock import MagicMock

import pytest
from aiokafka import TopicPartition
from faststream.kafka import KafkaBroker, TestKafkaBroker

import driftloop_ingestion
from driftloop_contracts import Event, Record, RecordRejected, RecordsIngested
from driftloop_ingestion.batch import Plan, Reject, Row, Stored, Written
from driftloop_ingestion.handlers import ingestion_router, next_offsets, rewind
from driftloop_ingestion.ingest import Ingestor
from driftloop_ingestion.pipeline import Pipeline
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
        self.unreadable: Exception | None = None
        self.outbox: dict[int, Event] = {}

    async def schemas(self) -> dict[str, StreamSchema]:
        if self.unreadable:
            raise self.unreadable
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

    monkeypatch.setattr("driftloop_ingestion.ingest.judge", broken)
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


async def test_a_store_retried_after_a_failure_announces_its_rows_under_new_batch_ids() -> None:
    # The failed attempt may have committed unseen; its events announce the first ids.
    store = FakeStore(ORDERS)
    broker = Broker(store)
    ingest = ingestor(store, broker)
    plan = await ingest.prepare(delivered(record("o-1"), record("o-2")))
    attempt = ingest.attempts(plan)
    store.failure = ConnectionError("connection lost during COMMIT")
    with pytest.raises(ConnectionError):
        await attempt()
    store.failure = None
    await attempt()
    (summary,) = broker.of(RecordsIngested)
    assert summary.batch_id != plan.batch_ids["orders"]
    assert {row.batch_id for row in store.rows.values()} == {summary.batch_id}
    assert summary.stored == 2


# The handler, on FastStream's in-memory broker: raw bytes in, events out.


def test_the_public_surface_is_the_app_and_its_settings() -> None:
    assert driftloop_ingestion.__all__ == ["Settings", "create_app"]


@dataclass
class Handler:
    """The ingestion router on FastStream's test broker, and what came out of it."""

    broker: KafkaBroker
    pipeline: Pipeline
    summaries: MagicMock
    letters: MagicMock
    commits: list[dict[Any, int]]


async def tick(delay: float) -> None:
    await asyncio.sleep(0.01)  # a retry pause, shortened


@asynccontextmanager
async def handler(store: FakeStore) -> AsyncIterator[Handler]:
    broker = KafkaBroker()
    pipeline = Pipeline(sleep=tick)
    commits: list[dict[Any, int]] = []

    async def commit(consumer: Any, offsets: Mapping[Any, int]) -> None:
        commits.append(dict(offsets))

    settings = driftloop_ingestion.Settings()
    broker.include_router(ingestion_router(settings, store, pipeline, commit))
    summaries, letters = MagicMock(), MagicMock()

    @broker.subscriber(RecordsIngested.topic)
    async def on_ingested(event: RecordsIngested) -> None:
        summaries(event)

    @broker.subscriber(RecordRejected.topic)
    async def on_rejected(event: RecordRejected) -> None:
        letters(event)

    async with TestKafkaBroker(broker) as test_broker:
        yield Handler(test_broker, pipeline, summaries, letters, commits)
        await pipeline.close(timeout=5)


async def test_the_handler_takes_raw_bytes_so_garbage_does_not_fail_its_batch() -> None:
    store = FakeStore(ORDERS)
    async with handler(store) as run:
        await run.broker.publish_batch(
            record("o-1"), b"\xff\xfe", b"[1, 2]", record("o-2"), topic=Record.topic
        )
        await run.pipeline.drain()
    assert set(store.rows) == {("orders", "o-1"), ("orders", "o-2")}
    (summary,) = [call.args[0] for call in run.summaries.call_args_list]
    assert (summary.stored, summary.rejected) == (2, 0)
    reasons = sorted(call.args[0].reason for call in run.letters.call_args_list)
    assert reasons[0].startswith("not JSON")
    assert reasons[1] == "not a JSON object"
    assert len(run.commits) == 1


async def test_the_handler_commits_a_batch_only_once_the_store_took_it() -> None:
    store = FakeStore(ORDERS)
    store.failure = ConnectionError("database unreachable")
    async with handler(store) as run:
        await run.broker.publish(record("o-1"), topic=Record.topic)  # returns: stored later
        await asyncio.sleep(0.1)  # the store fails, and is retried
        run.summaries.assert_not_called()
        assert not run.commits and not store.rows
        store.failure = None
        await run.pipeline.drain()
        assert set(store.rows) == {("orders", "o-1")}
        run.summaries.assert_called_once()
        ((partition, offset),) = run.commits[0].items()
        assert (partition.topic, offset) == (Record.topic, 1)


async def test_a_batch_whose_schemas_cannot_be_read_fails_and_is_not_committed() -> None:
    store = FakeStore(ORDERS)
    store.unreadable = ConnectionError("database unreachable")
    async with handler(store) as run:
        with pytest.raises(ConnectionError):
            await run.broker.publish(record("o-1"), topic=Record.topic)
        await run.pipeline.drain()
        assert not run.commits and not store.rows


def test_a_stored_batch_commits_each_partition_past_its_last_message() -> None:
    batch = [Message(Record.topic, 0, 5, b""), Message(Record.topic, 1, 9, b"")]
    batch.append(Message(Record.topic, 0, 6, b""))
    assert next_offsets(batch) == {
        TopicPartition(Record.topic, 0): 7,
        TopicPartition(Record.topic, 1): 10,
    }


def test_a_rewound_batch_seeks_each_partition_to_its_first_message() -> None:
    batch = [Message(Record.topic, 0, 5, b""), Message(Record.topic, 1, 9, b"")]
    batch.append(Message(Record.topic, 0, 6, b""))
    consumer = MagicMock()
    rewind(consumer, batch)
    seeks = {call.args for call in consumer.seek.call_args_list}
    assert seeks == {(TopicPartition(Record.topic, 0), 5), (TopicPartition(Record.topic, 1), 9)}


# The pipeline: one batch stored while the next is prepared; commits in order.


async def test_batches_are_stored_one_after_another_and_committed_in_order() -> None:
    steps: list[str] = []
    first_may_end = asyncio.Event()

    async def store(n: int) -> None:
        steps.append(f"store {n}")
        if n == 1:
            await first_may_end.wait()

    async def commit(n: int) -> None:
        steps.append(f"commit {n}")

    pipeline = Pipeline()
    await pipeline.submit(partial(store, 1), partial(commit, 1))  # returns while storing
    second = asyncio.create_task(pipeline.submit(partial(store, 2), partial(commit, 2)))
    await asyncio.sleep(0.05)
    assert steps == ["store 1"] and not second.done()  # the next waits for the one before
    first_may_end.set()
    await second
    await pipeline.drain()
    assert steps == ["store 1", "commit 1", "store 2", "commit 2"]


async def test_a_failing_store_is_retried_until_it_succeeds_then_committed_once() -> None:
    attempts: list[int] = []
    commits: list[int] = []

    async def store() -> None:
        attempts.append(len(attempts))
        if len(attempts) < 3:
            raise ConnectionError("database unreachable")

    async def commit() -> None:
        commits.append(len(attempts))

    pipeline = Pipeline(sleep=tick)
    await pipeline.submit(store, commit)
    await pipeline.drain()
    assert (len(attempts), commits) == (3, [3])


async def test_a_stopping_pipeline_gives_up_a_store_that_does_not_end_and_commits_nothing() -> None:
    commits: list[str] = []

    async def commit() -> None:
        commits.append("committed")

    pipeline = Pipeline()
    await pipeline.submit(asyncio.Event().wait, commit)
    await pipeline.close(timeout=0.05)
    assert commits == []
