"""Training's reads and writes of the knowledge store, each on a connection the caller owns.

The scheduler inserts a trial as 'requested'; training only ever moves it on from there,
``WHERE status = 'requested'``, so the first result to commit wins and a trial finished by
one replica is left alone by another that ran it too (a redelivery after a rebalance).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import class_row
from psycopg.types.json import Jsonb

from driftloop_store import put_artifact

from .trial import Trained

MODEL_MEDIA_TYPE = "application/vnd.driftloop.model+pickle"


@dataclass(frozen=True)
class TrialRow:
    """A trial with what running it needs from its experiment and stream."""

    id: str
    experiment_id: str
    stream: str
    family: str
    params: dict[str, Any]
    seed: int
    status: str
    attempt: int
    snapshot_hash: str | None
    experiment_spec: Any
    stream_spec: Any


async def find_trial(conn: AsyncConnection[Any], trial_id: str) -> TrialRow | None:
    async with conn.cursor(row_factory=class_row(TrialRow)) as cur:
        await cur.execute(
            """
            SELECT t.id, t.experiment_id, e.stream, t.family, t.params, t.seed, t.status,
                   t.attempt, e.snapshot_hash, e.spec AS experiment_spec,
                   s.spec AS stream_spec
            FROM trials t
            JOIN experiments e ON e.id = t.experiment_id
            JOIN streams s ON s.name = e.stream
            WHERE t.id = %s
            """,
            (trial_id,),
        )
        return await cur.fetchone()


async def complete(
    conn: AsyncConnection[Any], trial_id: str, trained: Trained, worker: str
) -> int | None:
    """Store the model and the trial's result and lineage; the trial's attempt, or None
    if it was no longer open (the caller's transaction should then roll back)."""
    await put_artifact(conn, trained.artifact, MODEL_MEDIA_TYPE)
    cur = await conn.execute(
        """
        UPDATE trials SET status = 'completed', metrics = %s, duration_seconds = %s,
            cpu_seconds = %s, artifact_sha256 = %s, code_version = %s, library_versions = %s,
            worker = %s, error = NULL, finished_at = now()
        WHERE id = %s AND status = 'requested'
        RETURNING attempt
        """,
        (
            Jsonb(trained.metrics),
            trained.duration_seconds,
            trained.cpu_seconds,
            trained.artifact_sha256,
            trained.code_version,
            Jsonb(trained.library_versions),
            worker,
            trial_id,
        ),
    )
    row = await cur.fetchone()
    return None if row is None else int(row[0])


async def fail(conn: AsyncConnection[Any], trial_id: str, reason: str, worker: str) -> int | None:
    """Mark the trial failed with ``reason``; its attempt, or None if it was no longer open."""
    cur = await conn.execute(
        """
        UPDATE trials SET status = 'failed', error = %s, worker = %s, finished_at = now()
        WHERE id = %s AND status = 'requested'
        RETURNING attempt
        """,
        (reason, worker, trial_id),
    )
    row = await cur.fetchone()
    return None if row is None else int(row[0])
