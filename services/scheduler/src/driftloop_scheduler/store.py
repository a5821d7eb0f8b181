"""The scheduler's reads and writes of streams, experiments and snapshots, each on a
connection the caller owns (and whose transaction it decides). Trials are in
``trial_store``, what earlier experiments left in ``priors``.

The wall deadline is set with ``clock_timestamp()``, not ``now()``: a transaction that
snapshots and re-scores for seconds must not start the experiment's clock early.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection
from psycopg.types.json import Jsonb

from driftloop_contracts import ExperimentStatus, Trigger
from driftloop_learn import Dataset, rows_from
from driftloop_spec import ExperimentSpec
from driftloop_store import labelled_rows, put_artifact

from .snapshot import MEDIA_TYPE, Selection, Snapshot

Conn = AsyncConnection[Any]


@dataclass(frozen=True)
class StreamSpec:
    spec: dict[str, Any] | None  # as stored; None for a stream registered without one


async def lock_stream(conn: Conn, stream: str) -> StreamSpec | None:
    """The stream's stored spec, locked so that two triggers of one stream start one
    experiment at a time; None for an unknown stream."""
    cur = await conn.execute(
        "SELECT spec FROM streams WHERE name = %s FOR NO KEY UPDATE", (stream,)
    )
    row = await cur.fetchone()
    return None if row is None else StreamSpec(row[0])


async def active_experiment(conn: Conn, stream: str) -> str | None:
    cur = await conn.execute(
        "SELECT id FROM experiments WHERE stream = %s"
        " AND status IN ('pending', 'running', 'paused') ORDER BY created_at LIMIT 1",
        (stream,),
    )
    row = await cur.fetchone()
    return None if row is None else str(row[0])


@dataclass(frozen=True)
class NewExperiment:
    id: str
    stream: str
    trigger: Trigger
    trigger_ref: str
    spec: ExperimentSpec
    requested_by: str
    reason: str


async def insert_experiment(conn: Conn, new: NewExperiment) -> bool:
    """False when an experiment with this id exists: its trigger was seen before."""
    cur = await conn.execute(
        """
        INSERT INTO experiments (id, stream, trigger, trigger_ref, spec, budget_trials,
            budget_seconds, status, requested_by, reason)
        VALUES (%s, %s, %s, %s, %s, %s, %s, 'pending', %s, %s)
        ON CONFLICT (id) DO NOTHING RETURNING 1
        """,
        (
            new.id,
            new.stream,
            new.trigger.value,
            new.trigger_ref,
            Jsonb(new.spec.model_dump(mode="json")),
            new.spec.budget.trials,
            new.spec.budget.wall_time.total_seconds(),
            new.requested_by,
            new.reason,
        ),
    )
    return await cur.fetchone() is not None


async def window_rows(conn: Conn, stream: str, chosen: Selection) -> Dataset:
    """The newest labelled records the selection allows, as a dataset (oldest first)."""
    found = await labelled_rows(
        conn,
        stream,
        last=chosen.limit,
        since=chosen.since,
        until=chosen.until,
        after_seq=chosen.after_seq or 0,
    )
    return rows_from(found)


async def save_snapshot(conn: Conn, stream: str, snapshot: Snapshot) -> None:
    # The same rows twice are one snapshot: its hash is its identity.
    await put_artifact(conn, snapshot.content, MEDIA_TYPE)
    await conn.execute(
        """
        INSERT INTO snapshots (hash, stream, window_definition, row_count, meta_features)
        VALUES (%s, %s, %s, %s, %s) ON CONFLICT (hash) DO NOTHING
        """,
        (
            snapshot.hash,
            stream,
            Jsonb(snapshot.definition),
            len(snapshot.data),
            Jsonb(snapshot.meta),
        ),
    )


async def mark_started(
    conn: Conn, experiment_id: str, snapshot_hash: str, seconds: float, seeded_from: list[str]
) -> None:
    await conn.execute(
        """
        UPDATE experiments SET status = 'running', snapshot_hash = %s, seeded_from = %s,
            started_at = clock_timestamp(),
            wall_deadline = clock_timestamp() + make_interval(secs => %s)
        WHERE id = %s
        """,
        (snapshot_hash, Jsonb(seeded_from), seconds, experiment_id),
    )


@dataclass(frozen=True)
class ExperimentRow:
    id: str
    stream: str
    trigger: Trigger
    status: ExperimentStatus
    spec: ExperimentSpec
    snapshot_hash: str | None
    wall_expired: bool
    budget_trials: int  # the spec's, or fewer for a quick experiment on a short window


async def lock_experiment(conn: Conn, experiment_id: str) -> ExperimentRow | None:
    """The experiment, locked: its trials are asked, timed out and told one at a time."""
    cur = await conn.execute(
        """
        SELECT id, stream, trigger, status, spec, snapshot_hash,
               coalesce(wall_deadline <= clock_timestamp(), false), budget_trials
        FROM experiments WHERE id = %s FOR UPDATE
        """,
        (experiment_id,),
    )
    row = await cur.fetchone()
    if row is None:
        return None
    spec = ExperimentSpec.model_validate(row[4])
    return ExperimentRow(
        row[0], row[1], Trigger(row[2]), ExperimentStatus(row[3]), spec, row[5], row[6], row[7]
    )


async def set_budget(conn: Conn, experiment_id: str, trials: int) -> None:
    await conn.execute(
        "UPDATE experiments SET budget_trials = %s WHERE id = %s", (trials, experiment_id)
    )


async def set_status(conn: Conn, experiment_id: str, status: ExperimentStatus) -> None:
    await conn.execute(
        "UPDATE experiments SET status = %s WHERE id = %s", (status.value, experiment_id)
    )


async def finish(
    conn: Conn,
    experiment_id: str,
    status: ExperimentStatus,
    reason: str,
    *,
    best_trial_id: str | None = None,
    candidate_model_id: str | None = None,
) -> None:
    """End the experiment; trials still in flight are failed, so late results are refused."""
    await conn.execute(
        """
        UPDATE experiments SET status = %s, reason = %s, best_trial_id = %s,
            candidate_model_id = %s, ended_at = clock_timestamp()
        WHERE id = %s
        """,
        (status.value, reason, best_trial_id, candidate_model_id, experiment_id),
    )
    await conn.execute(
        "UPDATE trials SET status = 'failed', error = %s, finished_at = clock_timestamp()"
        " WHERE experiment_id = %s AND status = 'requested'",
        (f"abandoned: the experiment was {status.value}", experiment_id),
    )


async def idle_experiments(conn: Conn, limit: int = 100) -> list[str]:
    """Running experiments with no trial in flight: out of wall time, or needing an ask."""
    cur = await conn.execute(
        """
        SELECT e.id FROM experiments e WHERE e.status = 'running' AND NOT EXISTS (
            SELECT 1 FROM trials t WHERE t.experiment_id = e.id AND t.status = 'requested')
        ORDER BY e.created_at LIMIT %s
        """,
        (limit,),
    )
    return [row[0] for row in await cur.fetchall()]


@dataclass(frozen=True)
class ScheduledStream:
    name: str
    spec: dict[str, Any]
    created_at: datetime
    last_activity: datetime
    active: bool


async def scheduled_streams(conn: Conn) -> list[ScheduledStream]:
    """Streams whose spec has a schedule, with when an experiment last started or ended."""
    cur = await conn.execute(
        """
        SELECT s.name, s.spec, s.created_at,
            greatest(s.created_at, (SELECT max(greatest(e.created_at, e.ended_at))
                                    FROM experiments e WHERE e.stream = s.name)),
            EXISTS (SELECT 1 FROM experiments e WHERE e.stream = s.name
                    AND e.status IN ('pending', 'running', 'paused'))
        FROM streams s
        WHERE jsonb_typeof(s.spec -> 'triggers' -> 'schedule') = 'object'
        ORDER BY s.name
        """
    )
    return [ScheduledStream(*row) for row in await cur.fetchall()]
