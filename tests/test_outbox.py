"""The transactional outbox against a real PostgreSQL: enqueue, delete, claim_stale."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from psycopg import AsyncConnection
from psycopg.rows import TupleRow

from driftloop_store import claim_stale, delete, enqueue, migrate

Conn = AsyncConnection[TupleRow]


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Conn]:
    async with await AsyncConnection.connect(database_url, autocommit=True) as conn:
        await migrate(conn)
        yield conn


async def age(conn: Conn, ids: list[int], seconds: int) -> None:
    await conn.execute(
        "UPDATE outbox SET created_at = now() - make_interval(secs => %s) WHERE id = ANY(%s)",
        (seconds, ids),
    )


async def test_enqueued_events_are_returned_by_id_in_order(db: Conn) -> None:
    ids = await enqueue(db, [("a", b"k", {"n": 1}), ("b", None, {"n": 2})])
    assert ids == sorted(ids) and len(ids) == 2
    await age(db, ids, 120)
    rows = await claim_stale(db, 60, 10)
    assert [(r.id, r.topic, r.key, r.payload) for r in rows] == [
        (ids[0], "a", b"k", {"n": 1}),
        (ids[1], "b", None, {"n": 2}),
    ]
    await delete(db, ids)
    assert await claim_stale(db, 0, 10) == []
    assert await enqueue(db, []) == []


async def test_enqueue_rolls_back_with_the_callers_transaction(db: Conn) -> None:
    async def fail() -> None:
        async with db.transaction():
            await enqueue(db, [("a", None, {})])
            raise RuntimeError("the rows failed")

    with pytest.raises(RuntimeError):
        await fail()
    assert await claim_stale(db, -60, 10) == []


async def test_claim_stale_skips_fresh_rows_and_respects_the_limit(db: Conn) -> None:
    old = await enqueue(db, [("a", None, {"n": n}) for n in range(3)])
    await age(db, old, 120)
    await enqueue(db, [("a", None, {"n": 9})])  # fresh
    assert [r.id for r in await claim_stale(db, 60, 10)] == old
    assert [r.id for r in await claim_stale(db, 60, 2)] == old[:2]


async def test_claim_stale_skips_rows_another_transaction_holds(
    db: Conn, database_url: str
) -> None:
    ids = await enqueue(db, [("a", None, {"n": n}) for n in range(4)])
    await age(db, ids, 120)
    async with await AsyncConnection.connect(database_url) as other, other.transaction():
        held = await claim_stale(other, 60, 2)
        assert [r.id for r in held] == ids[:2]
        async with db.transaction():
            # Without SKIP LOCKED this would wait for the other's locks, and time out.
            await db.execute("SET LOCAL lock_timeout = '2s'")
            # Not waiting for the other sweep's locks: it takes the rows left.
            assert [r.id for r in await claim_stale(db, 60, 10)] == ids[2:]
        await delete(other, [r.id for r in held])
    assert [r.id for r in await claim_stale(db, 60, 10)] == ids[2:]
