"""Journey: producers -> Kafka -> the ingestion service under uvicorn -> PostgreSQL.

A real aiokafka producer sends plain JSON (and some garbage) through the embedded broker;
the service stores the valid records once, dead-letters and counts the rest once, also
when the producer sends everything again and when the consumer is made to read it again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any
from uuid import UUID, uuid4

import psycopg
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from pydantic import SecretStr

import driftloop_ingestion
from driftloop_contracts import Record, RecordRejected, RecordsIngested
from driftloop_store import migrate, register_stream

from .helpers import eventually, running_server

pytestmark = pytest.mark.journey

GROUP = "driftloop-ingestion"
SCHEMA = {"amount": "float", "items": "int", "gift": "bool", "country": "category"}
TOTAL, EVERY = 10_000, 100  # one message in a hundred is malformed


@dataclass(frozen=True)
class Bad:
    """A malformed message, the field its dead letter must name and words of its reason."""

    value: bytes
    field: str | None
    reason: str


class Traffic:
    """The messages of one run: names are unique, since the broker outlives each test."""

    def __init__(self) -> None:
        self.run = uuid4().hex[:8]
        self.stream = f"ingest_{self.run}"
        self.valid: dict[str, dict[str, Any]] = {}
        self.bad: dict[str, Bad] = {}
        self.messages: list[tuple[bytes, bytes]] = []
        for i in range(TOTAL):
            if i % EVERY == EVERY - 1:
                token = f"bad-{self.run}-{i:05d}"
                self.bad[token] = self._malformed(len(self.bad) % len(MALFORMED), token)
                self.messages.append((token.encode(), self.bad[token].value))
            else:
                record = self.record(f"{self.run}-{i:05d}", i)
                self.valid[record["record_id"]] = record
                self.messages.append((record["record_id"].encode(), json.dumps(record).encode()))

    def record(self, record_id: str, i: int, **changes: Any) -> dict[str, Any]:
        features = {"amount": i / 7, "items": i % 5, "gift": i % 2 == 0, "country": "PT"}
        return {
            "stream": self.stream,
            "record_id": record_id,
            "event_time": f"2026-11-23T12:{i // 600 % 60:02d}:{i // 10 % 60:02d}Z",
            "features": features,
            "label": None if i % 3 == 0 else i % 2,
        } | changes

    def _malformed(self, kind: int, token: str) -> Bad:
        make, field, reason = MALFORMED[kind]
        return Bad(make(self, token), field, reason)

    @property
    def labelled(self) -> int:
        return sum(record["label"] is not None for record in self.valid.values())


def _json(traffic: Traffic, token: str, **changes: Any) -> bytes:
    record = traffic.record(token, 1, tag=token)
    features = {**record["features"], **changes.pop("features", {})}
    record = {**record, **changes, "features": features}
    return json.dumps({k: v for k, v in record.items() if v is not ...}).encode()


def _amount(traffic: Traffic, token: str, literal: bytes) -> bytes:
    """JSON with a literal that Python's json and pydantic read, but no strict parser would."""
    return _json(traffic, token, features={"amount": "AMOUNT"}).replace(b'"AMOUNT"', literal)


def _drop_feature(traffic: Traffic, token: str) -> bytes:
    record = json.loads(_json(traffic, token))
    del record["features"]["items"]
    return json.dumps(record).encode()


MALFORMED: list[tuple[Callable[[Traffic, str], bytes], str | None, str]] = [
    (lambda t, token: b"\xff\xfe not json " + token.encode(), None, "not JSON"),
    (_drop_feature, "features.items", "required by stream"),
    (
        lambda t, token: _json(t, token, features={"amount": "12"}),
        "features.amount",
        "expected float",
    ),
    (lambda t, token: _amount(t, token, b"NaN"), "features.amount", "got NaN"),
    (lambda t, token: _amount(t, token, b"-Infinity"), "features.amount", "got -Infinity"),
    (lambda t, token: _json(t, token, padding="x" * 70_000), None, "the limit is 65536"),
    (lambda t, token: _json(t, token, stream=f"nobody_{t.run}"), "stream", "registered"),
    (lambda t, token: _json(t, token, record_id=...), "record_id", "required"),
    (
        lambda t, token: _json(t, token, event_time="2026-11-23T12:00:00"),
        "event_time",
        "time zone",
    ),
    (lambda t, token: _json(t, token, features={"colour": "red"}), "features.colour", "schema"),
]


async def send(kafka: str, messages: list[tuple[bytes, bytes]]) -> dict[TopicPartition, int]:
    """Produce with a plain aiokafka producer; return each partition's first offset used."""
    producer = AIOKafkaProducer(bootstrap_servers=kafka, linger_ms=5, max_request_size=2**20)
    await producer.start()
    try:
        futures = [await producer.send(Record.topic, value, key=key) for key, value in messages]
        sent = await asyncio.gather(*futures)
    finally:
        await producer.stop()
    first: dict[TopicPartition, int] = {}
    for metadata in sent:
        tp = TopicPartition(metadata.topic, metadata.partition)
        first[tp] = min(first.get(tp, metadata.offset), metadata.offset)
    return first


async def commit_group_offsets(kafka: str, offsets: dict[TopicPartition, int]) -> None:
    """Move the service's consumer group back, as if it had crashed before committing.

    The commit comes from a member of the group, which every broker accepts.
    """
    consumer = AIOKafkaConsumer(
        Record.topic, bootstrap_servers=kafka, group_id=GROUP, enable_auto_commit=False
    )
    await consumer.start()
    try:
        while not set(offsets) <= consumer.assignment():
            await consumer.getmany(timeout_ms=200)
        await consumer.commit(offsets)
    finally:
        await consumer.stop()


async def committed_offsets(kafka: str, partitions: list[TopicPartition]) -> dict[Any, Any]:
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka, group_id=GROUP, enable_auto_commit=False)
    await consumer.start()
    try:
        return {tp: await consumer.committed(tp) for tp in partitions}
    finally:
        await consumer.stop()


class Listener:
    """Reads an event topic from its start in the background, keeping what matches."""

    def __init__(self, kafka: str, topic: str, keep: Callable[[dict[str, Any]], bool]) -> None:
        self.events: list[dict[str, Any]] = []
        self._consumer = AIOKafkaConsumer(
            topic,
            bootstrap_servers=kafka,
            group_id=f"test-{uuid4().hex}",
            auto_offset_reset="earliest",
        )
        self._keep = keep

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[Listener]:
        await self._consumer.start()
        task = asyncio.create_task(self._read())
        try:
            yield self
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await self._consumer.stop()

    async def _read(self) -> None:
        async for message in self._consumer:
            event = json.loads(message.value)
            if self._keep(event):
                self.events.append(event)


class Db:
    def __init__(self, url: str, traffic: Traffic) -> None:
        self.url, self.traffic = url, traffic

    async def rows(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        async with await psycopg.AsyncConnection.connect(self.url, autocommit=True) as conn:
            cur = await conn.execute(sql, params)
            return await cur.fetchall()

    async def execute(self, sql: str) -> None:
        async with await psycopg.AsyncConnection.connect(self.url, autocommit=True) as conn:
            await conn.execute(sql)

    async def stored(self) -> list[tuple[Any, ...]]:
        return await self.rows(
            "SELECT record_id, label, batch_id FROM records WHERE stream = %s", self.traffic.stream
        )

    async def rejects(self) -> list[tuple[Any, ...]]:
        return await self.rows(
            "SELECT payload, field, reason, source_partition, source_offset FROM rejected_records"
            " WHERE payload LIKE %s",
            f"%bad-{self.traffic.run}-%",
        )


def token_of(payload: str) -> str:
    match = re.search(r"bad-[0-9a-f]{8}-\d{5}", payload)
    assert match, payload[:80]
    return match.group()


async def wait_for(check: Callable[[], Any], what: str, timeout: float = 60) -> Any:
    async def probe() -> Any:
        return check()

    return await eventually(probe, timeout=timeout, what=what)


def settings(kafka: str, database_url: str) -> driftloop_ingestion.Settings:
    return driftloop_ingestion.Settings(
        kafka_bootstrap_servers=kafka, database_url=SecretStr(database_url)
    )


async def registered(database_url: str, stream: str) -> None:
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        await migrate(conn)
        await register_stream(conn, stream, SCHEMA, "fraud", {"task": "classification"})


async def test_valid_records_are_stored_once_and_malformed_ones_dead_lettered_once(
    kafka: str, database_url: str
) -> None:
    traffic = Traffic()
    db = Db(database_url, traffic)
    await registered(database_url, traffic.stream)
    app = driftloop_ingestion.create_app(settings(kafka, database_url))
    summaries = Listener(kafka, RecordsIngested.topic, lambda e: e["stream"] == traffic.stream)
    letters = Listener(kafka, RecordRejected.topic, lambda e: f"bad-{traffic.run}-" in e["payload"])

    def summed(name: str) -> int:
        return sum(event[name] for event in summaries.events)

    async with summaries.running(), letters.running():
        async with running_server(app):
            first = await send(kafka, traffic.messages)
            await wait_for(lambda: summed("stored") == len(traffic.valid), "the first delivery")
            await wait_for(lambda: len(letters.events) == len(traffic.bad), "dead letters")

            # Everything is stored or counted once, and every reject says why.
            stored = await db.stored()
            assert sorted(r[0] for r in stored) == sorted(traffic.valid)
            assert sum(r[1] is not None for r in stored) == traffic.labelled
            rejects = await db.rejects()
            assert len(rejects) == len(traffic.bad)
            for payload, field, reason, _, _ in rejects:
                bad = traffic.bad[token_of(payload)]
                assert (field, bad.reason in reason) == (bad.field, True), (payload[:60], reason)
            assert max(len(r[0]) for r in rejects) == 65536  # an oversize payload is cut

            # Dead letters match the store's rejects, Kafka position for position.
            assert sorted((e["source_partition"], e["source_offset"]) for e in letters.events) == (
                sorted((r[3], r[4]) for r in rejects)
            )
            for event in letters.events:
                assert event["field"] == traffic.bad[token_of(event["payload"])].field

            # Each summary's batch id names exactly the rows it announced.
            per_batch: dict[UUID, int] = {}
            for _, _, batch_id in stored:
                per_batch[batch_id] = per_batch.get(batch_id, 0) + 1
            announced = {UUID(e["batch_id"]): e["stored"] for e in summaries.events}
            assert per_batch == {b: n for b, n in announced.items() if n}
            assert summed("labelled") == traffic.labelled
            named = sum(1 for bad in traffic.bad.values() if _names_stream(bad))
            assert summed("rejected") == named

            # The producer sends it all again: no record twice; the new messages are new rejects.
            await send(kafka, traffic.messages)
            await wait_for(lambda: summed("duplicates") == len(traffic.valid), "the resend")
            await wait_for(lambda: len(letters.events) == 2 * len(traffic.bad), "2nd letters")
            assert len(await db.stored()) == len(traffic.valid)
            assert len(await db.rejects()) == 2 * len(traffic.bad)

        # The consumer reads both sends again, as after a crash before its offsets committed:
        # nothing is stored or counted twice; dead letters are sent again (at least once).
        await commit_group_offsets(kafka, first)
        async with running_server(driftloop_ingestion.create_app(settings(kafka, database_url))):
            await wait_for(
                lambda: summed("duplicates") == 3 * len(traffic.valid), "the redelivery", 90
            )
            await wait_for(lambda: len(letters.events) == 4 * len(traffic.bad), "3rd letters")
        assert summed("stored") == len(traffic.valid)
        assert len(await db.stored()) == len(traffic.valid)
        assert len(await db.rejects()) == 2 * len(traffic.bad)
        positions = {(e["source_partition"], e["source_offset"]) for e in letters.events}
        assert len(positions) == 2 * len(traffic.bad)


def _names_stream(bad: Bad) -> bool:
    # Rejects that carry the registered stream's name count in its summaries.
    return bad.field not in (None, "stream")


async def test_a_store_outage_commits_no_offsets_and_the_batch_lands_once_it_is_back(
    kafka: str, database_url: str
) -> None:
    traffic = Traffic()
    db = Db(database_url, traffic)
    await registered(database_url, traffic.stream)
    records = [traffic.record(f"{traffic.run}-{i}", i) for i in range(50)]
    messages = [(r["record_id"].encode(), json.dumps(r).encode()) for r in records]

    async with running_server(driftloop_ingestion.create_app(settings(kafka, database_url))):
        await db.execute("ALTER TABLE records RENAME TO records_away")
        first = await send(kafka, messages)
        partitions = list(first)
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:  # the service keeps failing and retrying
            committed = await committed_offsets(kafka, partitions)
            assert all((committed[tp] or 0) <= first[tp] for tp in partitions), committed
            await asyncio.sleep(0.5)
        await db.execute("ALTER TABLE records_away RENAME TO records")

        async def landed() -> bool:
            return len(await db.stored()) == len(records)

        await eventually(landed, timeout=60, what="the batch after the outage")
        committed = await committed_offsets(kafka, partitions)
        assert all(committed[tp] > first[tp] for tp in partitions)
    assert sorted(r[0] for r in await db.stored()) == sorted(r["record_id"] for r in records)
