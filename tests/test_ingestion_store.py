"""Ingestion's SQL against a real PostgreSQL: COPY, idempotence, rejects per position."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import pytest
from psycopg import AsyncConnection

from driftloop_contracts import Event, Record, RecordRejected, RecordsIngested
from driftloop_ingestion.batch import Plan, Reject, Row, Written
from driftloop_ingestion.ingest import Ingestor
from driftloop_ingestion.store import BatchWriter, PostgresStore, load_schemas
from driftloop_ingestion.validation import Kind, Rejection, StreamSchema
from driftloop_runtime import Message
from driftloop_store import migrate, open_pool, register_stream

T0 = datetime(2026, 11, 23, 12, tzinfo=UTC)


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[PostgresStore]:
    async with open_pool(database_url, max_size=2, migrate=True) as pool:
        async with pool.connection() as conn:
            await register_stream(
                conn, "orders", {"amount": "float"}, "fraud", {"task": "regression"}
            )
            await register_stream(conn, "refunds", {"amount": "float"}, "reason")
        yield PostgresStore(lambda: pool)


async def rows(database_url: str, sql: str) -> list[tuple[Any, ...]]:
    async with await AsyncConnection.connect(database_url) as conn:
        cur = await conn.execute(sql)
        return await cur.fetchall()


def row(record_id: str, stream: str = "orders", offset: int = 0, **changes: Any) -> Row:
    values: dict[str, Any] = {
        "stream": stream,
        "record_id": record_id,
        "event_time": T0 + timedelta(seconds=offset),
        "features": '{"amount": 1.5}',
        "label": "1",
        "batch_id": uuid4(),
        "message": Message(Record.topic, 0, offset, b"{}"),
    }
    return Row(**(values | changes))


def reject(offset: int, payload: bytes = b"nope", partition: int = 0) -> Reject:
    rejection = Rejection(Kind.NOT_JSON, None, "not JSON")
    return Reject.of(Message(Record.topic, partition, offset, payload), rejection)


async def write(store: PostgresStore, plan: Plan) -> Written:
    async with store.transaction() as writer:
        return await writer.write(plan)


async def test_schemas_carry_the_task_of_the_streams_spec(store: PostgresStore) -> None:
    assert await store.schemas() == {
        "orders": StreamSchema("orders", {"amount": "float"}, "fraud", "regression"),
        "refunds": StreamSchema("refunds", {"amount": "float"}, "reason", None),
    }


async def test_rows_are_stored_once_whoever_delivers_them_again(
    store: PostgresStore, database_url: str
) -> None:
    batch = [row("o-1", offset=0, label=None), row("o-2", offset=1), row("r-1", "refunds")]
    written = await write(store, Plan(batch, []))
    orders = written.stored["orders"]
    assert (orders.stored, orders.labelled) == (2, 1)
    assert (orders.first_event_time, orders.last_event_time) == (T0, T0 + timedelta(seconds=1))
    assert written.stored["refunds"].stored == 1

    again = await write(store, Plan([row("o-2"), row("o-3")], []))
    assert again.stored["orders"].stored == 1
    stored = await rows(database_url, "SELECT stream, record_id FROM records ORDER BY seq")
    assert stored == [("orders", "o-1"), ("orders", "o-2"), ("refunds", "r-1"), ("orders", "o-3")]


async def test_each_row_keeps_the_batch_id_it_was_announced_under(
    store: PostgresStore, database_url: str
) -> None:
    first = row("o-1")
    await write(store, Plan([first, row("o-2", batch_id=first.batch_id)], []))
    await write(store, Plan([row("o-1")], []))  # a duplicate does not move to a new batch
    assert await rows(database_url, "SELECT DISTINCT batch_id FROM records") == [(first.batch_id,)]


async def test_features_and_labels_are_stored_as_json(
    store: PostgresStore, database_url: str
) -> None:
    await write(store, Plan([row("o-1", features='{"amount": 2.5, "n": 3}', label='"x"')], []))
    assert await rows(database_url, "SELECT features, label FROM records") == [
        ({"amount": 2.5, "n": 3}, "x")
    ]


async def test_a_record_another_writer_stores_meanwhile_is_stored_once(
    store: PostgresStore, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Two consumers overlapping across a rebalance: neither sees the other's row when it
    # looks, the second's COPY then waits on the first and falls back to ON CONFLICT.
    merged: list[int] = []
    merge = BatchWriter._merge

    async def spy(self: BatchWriter, rows: list[Row]) -> list[Row]:
        merged.append(len(rows))
        return await merge(self, rows)

    monkeypatch.setattr(BatchWriter, "_merge", spy)
    first_in = asyncio.Event()
    release = asyncio.Event()

    async def first() -> Written:
        async with store.transaction() as writer:
            written = await writer.write(Plan([row("o-1")], []))
            first_in.set()
            await release.wait()
        return written

    async def second() -> Written:
        await first_in.wait()
        return await write(store, Plan([row("o-1"), row("o-2", offset=1)], []))

    one, two = asyncio.create_task(first()), asyncio.create_task(second())
    await first_in.wait()
    await asyncio.sleep(0.3)  # the second is now blocked on the first's uncommitted row
    release.set()
    assert (await one).stored["orders"].stored == 1
    assert (await two).stored["orders"].stored == 1
    assert await rows(database_url, "SELECT record_id FROM records ORDER BY seq") == [
        ("o-1",),
        ("o-2",),
    ]
    assert merged == [2]


async def test_a_reject_is_counted_once_per_kafka_position(
    store: PostgresStore, database_url: str
) -> None:
    await write(store, Plan([], [reject(7), reject(8)]))
    await write(store, Plan([], [reject(7), reject(7, partition=1)]))
    positions = await rows(
        database_url,
        "SELECT source_partition, source_offset FROM rejected_records ORDER BY 1, 2",
    )
    assert positions == [(0, 7), (0, 8), (1, 7)]


async def test_a_reject_keeps_its_payload_even_with_bytes_postgresql_cannot_hold(
    store: PostgresStore, database_url: str
) -> None:
    await write(store, Plan([], [reject(1, payload=b"a\x00b\xff")]))
    assert await rows(database_url, "SELECT payload, reason FROM rejected_records") == [
        ("a\ufffdb\ufffd", "not JSON")
    ]


async def test_a_row_the_store_refuses_is_rejected_and_the_rest_of_the_batch_is_stored(
    store: PostgresStore, database_url: str
) -> None:
    poison = row("o-2", offset=1, features='{"amount": "\\u0000"}')
    written = await write(store, Plan([row("o-1"), poison, row("o-3", offset=2)], []))
    assert written.stored["orders"].stored == 2
    (refused,) = written.refused
    assert refused.rejection.kind is Kind.UNSTORABLE
    assert refused.rejection.reason.startswith("the store refused it: ")
    assert await rows(database_url, "SELECT record_id FROM records ORDER BY seq") == [
        ("o-1",),
        ("o-3",),
    ]
    assert await rows(database_url, "SELECT record_id, source_offset FROM rejected_records") == [
        ("o-2", 1)
    ]


async def test_nothing_is_kept_when_the_transaction_fails(
    store: PostgresStore, database_url: str
) -> None:
    async def crash_before_the_commit() -> None:
        async with store.transaction() as writer:
            await writer.write(Plan([row("o-1")], [reject(1)]))
            raise RuntimeError("crash before the commit")

    with pytest.raises(RuntimeError):
        await crash_before_the_commit()
    assert await rows(database_url, "SELECT count(*) FROM records") == [(0,)]
    assert await rows(database_url, "SELECT count(*) FROM rejected_records") == [(0,)]


async def test_load_schemas_reads_every_registered_stream(database_url: str) -> None:
    async with await AsyncConnection.connect(database_url, autocommit=True) as conn:
        await migrate(conn)
        assert await load_schemas(conn) == {}
        await register_stream(conn, "new", {"x": "int"}, "y", {"task": "classification"})
        assert await load_schemas(conn) == {
            "new": StreamSchema("new", {"x": "int"}, "y", "classification")
        }


# The outbox: a batch's events are stored with its rows, so a crash cannot lose them.


class Crash(Exception):
    """The process dying between the commit and the announcement."""


def raw(record_id: str, offset: int) -> Message:
    value = {
        "stream": "orders",
        "record_id": record_id,
        "event_time": "2026-11-23T12:00:00Z",
        "features": {"amount": 1.5},
        "label": 1.0,
    }
    return Message(Record.topic, 0, offset, json.dumps(value).encode())


def ingestor(store: PostgresStore, sent: list[Event], **options: Any) -> Ingestor:
    async def publish(events: Sequence[Event]) -> None:
        sent.extend(events)

    return Ingestor(store, publish, max_record_bytes=4096, schema_ttl=60, **options)


async def test_a_batch_announced_leaves_the_outbox_empty(
    store: PostgresStore, database_url: str
) -> None:
    sent: list[Event] = []
    await ingestor(store, sent).ingest([raw("o-1", 0), Message(Record.topic, 0, 1, b"nope")])
    assert {type(event).__name__ for event in sent} == {"RecordsIngested", "RecordRejected"}
    assert await rows(database_url, "SELECT id FROM outbox") == []


async def test_events_a_crash_left_unannounced_are_published_by_the_next_ingestor(
    store: PostgresStore, database_url: str
) -> None:
    async def broker_down(events: Sequence[Event]) -> None:
        raise ConnectionError("broker unavailable")

    async def die(delay: float) -> None:
        raise Crash

    crashing = Ingestor(store, broker_down, max_record_bytes=4096, schema_ttl=60, sleep=die)
    batch = [raw("o-1", 0), raw("o-2", 1), Message(Record.topic, 0, 2, b"nope")]
    with pytest.raises(Crash):
        await crashing.ingest(batch)
    assert len(await rows(database_url, "SELECT record_id FROM records")) == 2  # committed
    stored = await rows(database_url, "SELECT topic, payload FROM outbox ORDER BY id")
    assert [topic for topic, _ in stored] == [RecordsIngested.topic, RecordRejected.topic]

    sent: list[Event] = []
    assert await ingestor(store, sent, stale_after=0).recover() == 2
    assert [event.model_dump(mode="json") for event in sent] == [p for _, p in stored]
    summary, letter = sent
    assert isinstance(summary, RecordsIngested) and isinstance(letter, RecordRejected)
    assert summary.stored == 2
    ids = await rows(database_url, "SELECT batch_id FROM records")
    assert ids == [(summary.batch_id,), (summary.batch_id,)]  # drift finds the batch
    assert await rows(database_url, "SELECT id FROM outbox") == []


async def test_the_outbox_is_swept_before_a_batch_at_most_once_per_period(
    store: PostgresStore, database_url: str
) -> None:
    async with store.transaction() as writer:  # a batch whose announcement died with it
        await writer.enqueue([RecordRejected(reason="lost", payload="x")])
    now = [0.0]
    sent: list[Event] = []
    ingest = ingestor(store, sent, stale_after=0, recover_every=30, clock=lambda: now[0])
    await ingest.ingest([raw("o-1", 0)])
    assert [type(event).__name__ for event in sent] == ["RecordRejected", "RecordsIngested"]
    async with store.transaction() as writer:
        await writer.enqueue([RecordRejected(reason="lost again", payload="y")])
    now[0] = 29.0
    await ingest.ingest([raw("o-2", 1)])
    assert len(await rows(database_url, "SELECT id FROM outbox")) == 1  # not swept yet
    now[0] = 30.0
    await ingest.ingest([raw("o-3", 2)])
    assert [e.reason for e in sent if isinstance(e, RecordRejected)] == ["lost", "lost again"]
    assert await rows(database_url, "SELECT id FROM outbox") == []
