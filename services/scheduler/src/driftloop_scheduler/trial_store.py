"""The scheduler's reads and writes of trials, each on a connection the caller owns.

Deadlines are set and compared with ``clock_timestamp()``, not ``now()``: a transaction
that snapshots and re-scores for seconds must not start its trials' clocks early.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from psycopg import AsyncConnection
from psycopg.types.json import Jsonb

from .experiments import TrialState
from .search import Config

Conn = AsyncConnection[Any]


@dataclass(frozen=True)
class TrialRow:
    state: TrialState
    config: Config
    seed: int
    attempt: int
    seeded_from: str | None


_TRIAL = "id, number, status, metrics, family, params, seed, attempt, seeded_from"


def _trial(row: Sequence[Any]) -> TrialRow:
    state = TrialState(row[0], row[1], row[2], row[3] or {})
    return TrialRow(state, Config(row[4], row[5]), row[6], row[7], row[8])


async def trials(conn: Conn, experiment_id: str) -> list[TrialRow]:
    cur = await conn.execute(
        f"SELECT {_TRIAL} FROM trials WHERE experiment_id = %s ORDER BY number",
        (experiment_id,),
    )
    return [_trial(row) for row in await cur.fetchall()]


async def insert_trial(
    conn: Conn,
    trial_id: str,
    experiment_id: str,
    number: int,
    config: Config,
    seed: int,
    timeout_seconds: float,
    seeded_from: str | None,
) -> None:
    await conn.execute(
        """
        INSERT INTO trials (id, experiment_id, number, family, params, seed, status, deadline,
            source, seeded_from)
        VALUES (%s, %s, %s, %s, %s, %s, 'requested', clock_timestamp() + make_interval(secs => %s),
            %s, %s)
        """,
        (
            trial_id,
            experiment_id,
            number,
            config.family,
            Jsonb(config.params),
            seed,
            timeout_seconds,
            "seed" if seeded_from else "search",
            seeded_from,
        ),
    )


async def overdue_trials(conn: Conn, limit: int = 100) -> list[tuple[str, str]]:
    """(trial id, experiment id) of trials past their deadline in live experiments."""
    cur = await conn.execute(
        """
        SELECT t.id, t.experiment_id FROM trials t JOIN experiments e ON e.id = t.experiment_id
        WHERE t.status = 'requested' AND t.deadline <= clock_timestamp()
          AND e.status IN ('running', 'paused')
        ORDER BY t.deadline LIMIT %s
        """,
        (limit,),
    )
    return [(row[0], row[1]) for row in await cur.fetchall()]


async def overdue_trial(conn: Conn, trial_id: str) -> TrialRow | None:
    """The trial if it is still in flight and past its deadline (checked under the lock)."""
    cur = await conn.execute(
        f"SELECT {_TRIAL} FROM trials WHERE id = %s AND status = 'requested'"
        " AND deadline <= clock_timestamp()",
        (trial_id,),
    )
    row = await cur.fetchone()
    return None if row is None else _trial(row)


async def requeue_trial(conn: Conn, trial_id: str, attempt: int, timeout_seconds: float) -> None:
    await conn.execute(
        "UPDATE trials SET attempt = %s,"
        " deadline = clock_timestamp() + make_interval(secs => %s) WHERE id = %s",
        (attempt, timeout_seconds, trial_id),
    )


async def fail_trial(conn: Conn, trial_id: str, error: str) -> None:
    await conn.execute(
        "UPDATE trials SET status = 'failed', error = %s, finished_at = clock_timestamp()"
        " WHERE id = %s AND status = 'requested'",
        (error, trial_id),
    )
