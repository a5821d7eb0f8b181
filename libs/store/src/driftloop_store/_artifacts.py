"""Content-addressed artifacts (models, snapshots, holdouts, reports) and handled events.

Artifacts live in PostgreSQL by default, so every service on any host reads the same
bytes. The store does not judge what it returns: callers verify the hash before they load
(``driftloop_learn.load`` does), so bytes altered in the table are refused there.
"""

from __future__ import annotations

import hashlib
from typing import Any

from psycopg import AsyncConnection


async def put_artifact(
    conn: AsyncConnection[Any], data: bytes, media_type: str = "application/octet-stream"
) -> str:
    """Store ``data`` under its sha256 (a second put of the same bytes is a no-op)."""
    digest = hashlib.sha256(data).hexdigest()
    await conn.execute(
        "INSERT INTO artifacts (sha256, bytes, size, media_type) VALUES (%s, %s, %s, %s)"
        " ON CONFLICT (sha256) DO NOTHING",
        (digest, data, len(data), media_type),
    )
    return digest


async def get_artifact(conn: AsyncConnection[Any], sha256: str) -> bytes | None:
    cur = await conn.execute("SELECT bytes FROM artifacts WHERE sha256 = %s", (sha256,))
    row = await cur.fetchone()
    return None if row is None else bytes(row[0])


async def first_handling(conn: AsyncConnection[Any], consumer: str, event_id: str) -> bool:
    """Mark ``event_id`` handled by ``consumer``; False if it was already.

    Call in the transaction that makes the event's effects: if that rolls back, the event
    counts as not handled and its redelivery is acted on.
    """
    cur = await conn.execute(
        "INSERT INTO handled_events (consumer, event_id) VALUES (%s, %s)"
        " ON CONFLICT DO NOTHING RETURNING 1",
        (consumer, event_id),
    )
    return await cur.fetchone() is not None
