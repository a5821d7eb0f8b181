"""The plain-SQL queries the services share, each on a connection the caller owns.

The caller decides the transaction: these functions neither commit nor roll back.
"""

from __future__ import annotations

from typing import Any, TypeVar

from psycopg import AsyncConnection
from psycopg.rows import class_row
from psycopg.types.json import Jsonb

from ._rows import HumanActionRow, JsonObject, ServingRow, StreamRow

_STREAM_COLUMNS = "name, schema, target, created_at, spec"

RowT = TypeVar("RowT")


async def register_stream(
    conn: AsyncConnection[Any],
    name: str,
    schema: dict[str, str],
    target: str,
    spec: JsonObject | None = None,
) -> StreamRow:
    """Create the stream, or replace its schema, target and spec; ``created_at`` is kept."""
    async with conn.cursor(row_factory=class_row(StreamRow)) as cur:
        await cur.execute(
            f"""
            INSERT INTO streams (name, schema, target, spec) VALUES (%s, %s, %s, %s)
            ON CONFLICT (name) DO UPDATE SET schema = EXCLUDED.schema, target = EXCLUDED.target,
                                             spec = EXCLUDED.spec
            RETURNING {_STREAM_COLUMNS}
            """,
            (name, Jsonb(schema), target, Jsonb(spec) if spec is not None else None),
        )
        return _returned(await cur.fetchone())


async def get_stream(conn: AsyncConnection[Any], name: str) -> StreamRow | None:
    async with conn.cursor(row_factory=class_row(StreamRow)) as cur:
        await cur.execute(f"SELECT {_STREAM_COLUMNS} FROM streams WHERE name = %s", (name,))
        return await cur.fetchone()


async def list_streams(conn: AsyncConnection[Any]) -> list[StreamRow]:
    async with conn.cursor(row_factory=class_row(StreamRow)) as cur:
        await cur.execute(f"SELECT {_STREAM_COLUMNS} FROM streams ORDER BY name")
        return await cur.fetchall()


async def record_human_action(
    conn: AsyncConnection[Any],
    actor: str,
    action: str,
    target_kind: str,
    target_id: str,
    reason: str = "",
    payload: JsonObject | None = None,
) -> HumanActionRow:
    """Log what a person did, to what and why: the audit trail behind every manual change."""
    async with conn.cursor(row_factory=class_row(HumanActionRow)) as cur:
        await cur.execute(
            """
            INSERT INTO human_actions (actor, action, target_kind, target_id, reason, payload)
            VALUES (%s, %s, %s, %s, %s, %s)
            RETURNING id, actor, action, target_kind, target_id, reason, payload, at
            """,
            (actor, action, target_kind, target_id, reason, Jsonb(payload or {})),
        )
        return _returned(await cur.fetchone())


async def current_champion(conn: AsyncConnection[Any], stream: str) -> ServingRow | None:
    """The open serving row of ``stream``: the model serving it now, if any."""
    async with conn.cursor(row_factory=class_row(ServingRow)) as cur:
        await cur.execute(
            """
            SELECT id, stream, model_id, started_at, ended_at, reason, actor
            FROM serving_history WHERE stream = %s AND ended_at IS NULL
            """,
            (stream,),
        )
        return await cur.fetchone()


def _returned(row: RowT | None) -> RowT:
    # RETURNING always yields the written row; None here is a bug, not a condition to handle.
    if row is None:
        raise RuntimeError("INSERT ... RETURNING returned no row")
    return row
