"""Serving's reads of the knowledge store."""

from __future__ import annotations

from psycopg import AsyncConnection
from psycopg.rows import dict_row

from .champions import Champion

_CURRENT = """
SELECT h.stream, m.id AS model_id, m.version, m.artifact_sha256, h.started_at AS since,
       h.id AS serving_id
FROM serving_history h JOIN models m ON m.id = h.model_id
WHERE h.ended_at IS NULL
"""


async def current_champions(conn: AsyncConnection) -> list[Champion]:
    """The model that serves each stream now, as the store records it."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(_CURRENT)
        return [Champion(**row) for row in await cur.fetchall()]
