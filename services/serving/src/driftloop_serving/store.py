"""Serving's reads and writes of the knowledge store: champions, streams, online checkpoints."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import dict_row

from driftloop_store import get_stream, list_streams, put_artifact

from .champions import Appointment

MODEL_MEDIA_TYPE = "application/vnd.driftloop.model+pickle"

_APPOINTMENTS = """
SELECT h.stream, m.id AS model_id, m.version, m.artifact_sha256, h.started_at AS since,
       h.id AS serving_id
FROM serving_history h JOIN models m ON m.id = h.model_id
"""
_CURRENT = _APPOINTMENTS + "WHERE h.ended_at IS NULL"
_RECORDED = _APPOINTMENTS + "WHERE h.id = %s"


@dataclass(frozen=True)
class StreamRecord:
    name: str
    schema: dict[str, str]
    target: str
    spec: dict[str, Any] | None


@dataclass(frozen=True)
class Checkpoint:
    artifact_sha256: str
    learned: int


async def current_champions(conn: AsyncConnection[Any]) -> list[Appointment]:
    """The model that serves each stream now, as the store records it."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(_CURRENT)
        return [Appointment(**row) for row in await cur.fetchall()]


async def recorded_appointment(conn: AsyncConnection[Any], serving_id: int) -> Appointment | None:
    """The appointment serving history holds under ``serving_id``, if any."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(_RECORDED, (serving_id,))
        row = await cur.fetchone()
    return None if row is None else Appointment(**row)


async def read_streams(conn: AsyncConnection[Any]) -> list[StreamRecord]:
    return [StreamRecord(s.name, s.schema_, s.target, s.spec) for s in await list_streams(conn)]


async def read_stream(conn: AsyncConnection[Any], name: str) -> StreamRecord | None:
    row = await get_stream(conn, name)
    return None if row is None else StreamRecord(row.name, row.schema_, row.target, row.spec)


async def read_checkpoint(
    conn: AsyncConnection[Any], stream: str, model_id: str
) -> Checkpoint | None:
    cur = await conn.execute(
        "SELECT artifact_sha256, learned FROM online_checkpoints"
        " WHERE stream = %s AND model_id = %s",
        (stream, model_id),
    )
    row = await cur.fetchone()
    return None if row is None else Checkpoint(row[0], row[1])


async def save_checkpoint(
    conn: AsyncConnection[Any], stream: str, model_id: str, data: bytes, learned: int
) -> str:
    """Store the model's bytes and point (stream, model) at them; the artifact's sha256."""
    sha = await put_artifact(conn, data, MODEL_MEDIA_TYPE)
    await conn.execute(
        """
        INSERT INTO online_checkpoints (stream, model_id, artifact_sha256, learned)
        VALUES (%s, %s, %s, %s)
        ON CONFLICT (stream, model_id) DO UPDATE
        SET artifact_sha256 = EXCLUDED.artifact_sha256, learned = EXCLUDED.learned, at = now()
        """,
        (stream, model_id, sha, learned),
    )
    return sha
