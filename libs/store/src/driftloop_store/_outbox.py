"""The transactional outbox: events stored with the rows they announce, published after.

A service enqueues its events in the transaction that writes its rows, publishes them once
that transaction committed, then deletes them. Events left behind by a crash in between are
found by ``claim_stale`` and published again: delivery is at least once, so consumers
dedupe by event id where it matters.

Like the other queries, these run on a connection the caller owns, in its transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import class_row
from psycopg.types.json import Jsonb

from ._rows import OutboxRow

OutboxEvent = tuple[str, bytes | None, dict[str, Any]]
"""``(topic, key, payload)`` of one event to publish; the payload is the event as JSON."""

_ENQUEUE = "INSERT INTO outbox (topic, key, payload) VALUES (%s, %s, %s) RETURNING id"
_CLAIM_STALE = """
SELECT id, topic, key, payload, created_at FROM outbox
WHERE created_at < now() - make_interval(secs => %s)
  AND (%s::text[] IS NULL OR topic = ANY(%s::text[]))
ORDER BY id LIMIT %s
FOR UPDATE SKIP LOCKED
"""


async def enqueue(conn: AsyncConnection[Any], events: Sequence[OutboxEvent]) -> list[int]:
    """Store the events in the caller's transaction; their ids, in the order given."""
    if not events:
        return []
    ids: list[int] = []
    async with conn.cursor() as cur:
        await cur.executemany(
            _ENQUEUE,
            [(topic, key, Jsonb(payload)) for topic, key, payload in events],
            returning=True,
        )
        while True:
            row = await cur.fetchone()
            if row is None:
                raise RuntimeError("INSERT ... RETURNING returned no row")
            ids.append(row[0])
            if not cur.nextset():
                break
    return ids


async def delete(conn: AsyncConnection[Any], ids: Sequence[int]) -> None:
    """Forget published events; ids already gone are ignored."""
    if ids:
        await conn.execute("DELETE FROM outbox WHERE id = ANY(%s)", (list(ids),))


async def claim_stale(
    conn: AsyncConnection[Any],
    older_than_seconds: float,
    limit: int,
    topics: Sequence[str] | None = None,
) -> list[OutboxRow]:
    """Lock up to ``limit`` events older than the threshold, oldest first; only those for
    ``topics`` when given, since services share the table and each sends its own.

    Rows another transaction holds are skipped, not waited for: two replicas sweeping at
    once publish different rows. Call inside a transaction, publish, then ``delete`` the
    rows before committing; the locks last until then.
    """
    async with conn.cursor(row_factory=class_row(OutboxRow)) as cur:
        names = list(topics) if topics is not None else None
        await cur.execute(_CLAIM_STALE, (older_than_seconds, names, names, limit))
        return await cur.fetchall()
