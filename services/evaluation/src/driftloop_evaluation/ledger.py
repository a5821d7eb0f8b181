"""What evaluation records: holdouts and their uses, decisions, and serving history.

Each function runs on the caller's connection, inside the transaction that also marks the
event handled and holds the stream's lock (``store.lock_stream``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import class_row
from psycopg.types.json import Jsonb

from driftloop_contracts import PromotionDecided
from driftloop_store import put_artifact

from .holdout import MEDIA_TYPE, Holdout

Conn = AsyncConnection[Any]


@dataclass(frozen=True)
class DecisionRow:
    id: str
    stream: str
    experiment_id: str | None
    model_id: str
    champion_id: str | None
    status: str
    reason: str


async def already_decided(conn: Conn, experiment_id: str) -> bool:
    cur = await conn.execute("SELECT 1 FROM decisions WHERE experiment_id = %s", (experiment_id,))
    return await cur.fetchone() is not None


async def holdout_uses(conn: Conn, holdout_hash: str) -> int:
    cur = await conn.execute("SELECT uses FROM holdouts WHERE hash = %s", (holdout_hash,))
    row = await cur.fetchone()
    return int(row[0]) if row else 0


async def save_holdout(conn: Conn, stream: str, holdout: Holdout, *, looked: bool) -> None:
    """Store the holdout's rows and row; a decision that looked at it counts one use."""
    await put_artifact(conn, holdout.data.to_bytes(), MEDIA_TYPE)
    await conn.execute(
        "INSERT INTO holdouts (hash, stream, uses, definition, row_count)"
        " VALUES (%s, %s, %s, %s, %s)"
        " ON CONFLICT (hash) DO UPDATE SET uses = holdouts.uses + EXCLUDED.uses",
        (holdout.hash, stream, int(looked), Jsonb(holdout.definition), len(holdout.data)),
    )


async def record_decision(
    conn: Conn, decision_id: str, decided: PromotionDecided, status: str
) -> None:
    await conn.execute(
        "INSERT INTO decisions (id, stream, experiment_id, model_id, champion_id, verdict,"
        " metric, candidate_score, champion_score, test, statistic, p_value, alpha, min_gain,"
        " holdout_hash, status, reason)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
        (
            decision_id,
            decided.stream,
            decided.experiment_id,
            decided.model_id,
            decided.champion_id,
            decided.verdict.value,
            decided.metric,
            decided.candidate_score,
            decided.champion_score,
            decided.test,
            decided.statistic,
            decided.p_value,
            decided.alpha,
            decided.min_gain,
            decided.holdout_hash,
            status,
            decided.reason,
        ),
    )


async def decision(conn: Conn, decision_id: str) -> DecisionRow | None:
    async with conn.cursor(row_factory=class_row(DecisionRow)) as cur:
        await cur.execute(
            "SELECT id, stream, experiment_id, model_id, champion_id, status, reason"
            " FROM decisions WHERE id = %s",
            (decision_id,),
        )
        return await cur.fetchone()


async def settle(conn: Conn, decision_id: str, status: str, actor: str, reason: str) -> None:
    """A person's answer to a pending decision."""
    await conn.execute(
        "UPDATE decisions SET status = %s, decided_by = %s, decided_at = now(), reason = %s"
        " WHERE id = %s",
        (status, actor, reason, decision_id),
    )


async def appoint(
    conn: Conn, stream: str, model_id: str, reason: str, actor: str, decision_id: str | None
) -> tuple[int, str | None]:
    """End the open serving row and open one for ``model_id``: (its id, the model replaced)."""
    cur = await conn.execute(
        "UPDATE serving_history SET ended_at = now()"
        " WHERE stream = %s AND ended_at IS NULL RETURNING model_id",
        (stream,),
    )
    ended = await cur.fetchone()
    cur = await conn.execute(
        "INSERT INTO serving_history (stream, model_id, reason, actor, decision_id)"
        " VALUES (%s, %s, %s, %s, %s) RETURNING id",
        (stream, model_id, reason, actor, decision_id),
    )
    opened = await cur.fetchone()
    if opened is None:
        raise RuntimeError("INSERT ... RETURNING returned no row")
    return int(opened[0]), (ended[0] if ended else None)
