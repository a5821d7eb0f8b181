"""Bad records on the raw records topic, through the ingestor and a real PostgreSQL.

Each batch holds one message Hypothesis made and a valid neighbour. The batch is stored
without an exception (one would fail it, and the pipeline would retry it forever); the
neighbour is stored; the bad message is stored too if it is a valid record after all, or
else counted in ``rejected_records`` and dead-lettered with its reason.
"""

from __future__ import annotations

import itertools
import json
import random
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import uuid4

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from driftloop_contracts import Event, Record, RecordRejected
from driftloop_ingestion.ingest import Ingestor
from driftloop_ingestion.store import PostgresStore
from driftloop_runtime import Message
from driftloop_store import open_pool, register_stream

from .bad_input_strategies import NUL, bad_messages

EXAMPLES = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
offsets = itertools.count()  # rejects are counted once per position: each message its own


@dataclass
class Harness:
    ingestor: Ingestor
    conn: psycopg.AsyncConnection[Any]
    sent: list[Event] = field(repr=False)

    async def ingest(self, *values: bytes) -> list[Message]:
        messages = [Message(Record.topic, 0, next(offsets), value) for value in values]
        await self.ingestor.ingest(messages)
        return messages

    async def stored(self, record_id: str) -> bool:
        cur = await self.conn.execute("SELECT 1 FROM records WHERE record_id = %s", (record_id,))
        return await cur.fetchone() is not None

    async def kept(self) -> int:
        """Records stored and rejects counted, together: every message ends as one of them."""
        cur = await self.conn.execute(
            "SELECT (SELECT count(*) FROM records) + (SELECT count(*) FROM rejected_records)"
        )
        (count,) = await cur.fetchone() or (0,)
        return int(count)

    async def outbox(self) -> int:
        cur = await self.conn.execute("SELECT count(*) FROM outbox")
        (count,) = await cur.fetchone() or (0,)
        return int(count)

    async def rejected_at(self, message: Message) -> tuple[str | None, str] | None:
        cur = await self.conn.execute(
            "SELECT field, reason FROM rejected_records WHERE source_offset = %s",
            (message.offset,),
        )
        found = await cur.fetchone()
        return None if found is None else (found[0], found[1])

    def letter_for(self, message: Message) -> RecordRejected | None:
        letters = [e for e in self.sent if isinstance(e, RecordRejected)]
        return next((e for e in letters if e.source_offset == message.offset), None)


@pytest.fixture
async def harness(database_url: str) -> AsyncIterator[Harness]:
    async with open_pool(database_url, max_size=2, migrate=True) as pool:
        async with pool.connection() as conn:
            schema = {"amount": "float", "country": "category", "n": "int", "ok": "bool"}
            await register_stream(conn, "orders", schema, "fraud", {"task": "classification"})
        sent: list[Event] = []

        async def publish(events: Sequence[Event]) -> None:
            sent.extend(events)

        ingestor = Ingestor(
            PostgresStore(lambda: pool), publish, max_record_bytes=64 * 1024, schema_ttl=60.0
        )
        async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
            yield Harness(ingestor, conn, sent)


def record(**changes: Any) -> dict[str, Any]:
    return {
        "stream": "orders",
        "record_id": f"o-{uuid4()}",
        "event_time": "2026-11-23T12:00:00Z",
        "features": {"amount": 1.5, "country": "PT", "n": 3, "ok": True},
        "label": 1,
    } | changes


@EXAMPLES
@given(data=st.data())
async def test_a_bad_record_is_dead_lettered_with_its_reason_and_its_neighbour_stored(
    harness: Harness, data: st.DataObject
) -> None:
    bad = data.draw(bad_messages(record()))
    neighbour = record()
    before = await harness.kept()

    bad_message, _ = await harness.ingest(bad, json.dumps(neighbour).encode())

    assert await harness.stored(neighbour["record_id"])
    after = await harness.kept()
    if (rejected := await harness.rejected_at(bad_message)) is not None:
        field, reason = rejected
        assert reason
        letter = harness.letter_for(bad_message)
        assert letter is not None and letter.reason == reason and letter.field == field
        assert after - before == 2
    else:  # a valid record after all, or a duplicate of one stored
        assert after - before in (1, 2)


@pytest.mark.parametrize(
    ("where", "changes", "field"),
    [
        ("record id", {"record_id": f"o-{NUL}"}, "record_id"),
        ("category", {"features": {"amount": 1.5, "country": NUL, "n": 3, "ok": True}},
         "features.country"),
        ("feature name", {"features": {"amount": 1.5, f"c{NUL}": "PT", "n": 3, "ok": True}},
         f"features.c{NUL}"),
        ("label", {"label": f"yes{NUL}"}, "label"),
    ],
)  # fmt: skip
async def test_a_record_with_a_nul_is_dead_lettered_and_ingestion_goes_on(
    harness: Harness, where: str, changes: dict[str, Any], field: str
) -> None:
    neighbour = record()

    bad, _ = await harness.ingest(
        json.dumps(record(**changes)).encode(), json.dumps(neighbour).encode()
    )

    assert await harness.stored(neighbour["record_id"])
    rejected = await harness.rejected_at(bad)
    assert rejected is not None and rejected[0] == field.replace(NUL, "\ufffd")
    letter = harness.letter_for(bad)
    assert letter is not None and letter.field == rejected[0] and NUL not in letter.payload
    assert letter.reason == rejected[1]
    assert not await harness.outbox(), "announced events are deleted from the outbox"


@pytest.mark.parametrize("name", ["stream", "record_id"])
async def test_a_record_with_a_huge_name_is_dead_lettered_and_ingestion_goes_on(
    harness: Harness, name: str
) -> None:
    # Random, so it does not compress: PostgreSQL refused the reject's index row.
    huge = random.Random(7).randbytes(10_000).hex()
    neighbour = record()

    bad, _ = await harness.ingest(
        json.dumps(record(**{name: huge})).encode(), json.dumps(neighbour).encode()
    )

    assert await harness.stored(neighbour["record_id"])
    assert (rejected := await harness.rejected_at(bad)) is not None
    assert rejected[0] == name
    letter = harness.letter_for(bad)
    assert letter is not None and huge in letter.payload
    assert len(getattr(letter, name)) < 300
