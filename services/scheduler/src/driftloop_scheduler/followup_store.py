"""The scheduler's reads for what it starts by itself (``followups``): where a drift's
change began, how many records since are labelled, experiments waiting for them, and
experiments whose window was short. Each on a connection the caller owns."""

from __future__ import annotations

from dataclasses import dataclass

from driftloop_contracts import Trigger
from driftloop_spec import ExperimentSpec

from .store import Conn


async def change_point(conn: Conn, stream: str, drift_event_id: str | None) -> int | None:
    """The ``seq`` of the record where the drift service placed the change (None when the
    alarm, or its record, is not in the store)."""
    cur = await conn.execute(
        """
        SELECT r.seq FROM drift_events d
        JOIN records r ON r.stream = d.stream AND r.record_id = d.evidence->>'change_record_id'
        WHERE d.event_id = %s AND d.stream = %s
        """,
        (drift_event_id, stream),
    )
    row = await cur.fetchone()
    return None if row is None else int(row[0])


async def labelled_count(conn: Conn, stream: str, after_seq: int, limit: int) -> int:
    """How many records after ``after_seq`` have a label (on the record or as feedback),
    counted up to ``limit``."""
    cur = await conn.execute(
        """
        SELECT count(*) FROM (
            SELECT 1 FROM records r
            LEFT JOIN labels l ON l.stream = r.stream AND l.record_id = r.record_id
            WHERE r.stream = %s AND r.seq > %s
              AND COALESCE(NULLIF(r.label, 'null'), l.label) IS NOT NULL
            LIMIT %s) AS found
        """,
        (stream, after_seq, limit),
    )
    row = await cur.fetchone()
    return int(row[0]) if row else 0


@dataclass(frozen=True)
class Pending:
    """An experiment waiting for labelled records since its change, locked."""

    id: str
    stream: str
    trigger: Trigger
    trigger_ref: str | None
    spec: ExperimentSpec
    requested_by: str
    reason: str
    waited: float  # seconds since it was requested


async def pending_experiments(conn: Conn, limit: int = 100) -> list[str]:
    cur = await conn.execute(
        "SELECT id FROM experiments WHERE status = 'pending' ORDER BY created_at LIMIT %s",
        (limit,),
    )
    return [row[0] for row in await cur.fetchall()]


async def lock_pending(conn: Conn, experiment_id: str) -> Pending | None:
    """The experiment, locked, if it is still waiting to begin."""
    cur = await conn.execute(
        """
        SELECT id, stream, trigger, trigger_ref, spec, requested_by, reason,
               extract(epoch FROM clock_timestamp() - created_at)
        FROM experiments WHERE id = %s AND status = 'pending' FOR UPDATE
        """,
        (experiment_id,),
    )
    row = await cur.fetchone()
    if row is None:
        return None
    spec = ExperimentSpec.model_validate(row[4])
    return Pending(row[0], row[1], Trigger(row[2]), row[3], spec, row[5], row[6], float(row[7]))


@dataclass(frozen=True)
class Latest:
    """A stream's latest experiment, when it ran under the stream's spec on a window short
    of a full ``last_labelled`` one and no archived model answered it."""

    id: str
    stream: str
    trigger: Trigger
    trigger_ref: str | None
    rows: int  # in its snapshot (0: it took none)
    window: int  # the spec's last_labelled


async def short_windows(conn: Conn) -> list[Latest]:
    cur = await conn.execute(
        """
        SELECT id, stream, trigger, trigger_ref, rows, window_rows FROM (
            SELECT DISTINCT ON (e.stream) e.id, e.stream, e.trigger, e.trigger_ref, e.status,
                e.candidate_model_id, coalesce(sn.row_count, 0) AS rows,
                (e.spec -> 'window' ->> 'last_labelled')::int AS window_rows,
                e.spec = s.spec AS own_spec
            FROM experiments e JOIN streams s ON s.name = e.stream
            LEFT JOIN snapshots sn ON sn.hash = e.snapshot_hash
            ORDER BY e.stream, e.created_at DESC
        ) AS latest
        WHERE status IN ('completed', 'failed') AND candidate_model_id IS NULL AND own_spec
          AND window_rows IS NOT NULL AND rows < window_rows
        """
    )
    return [
        Latest(row[0], row[1], Trigger(row[2]), row[3], row[4], row[5])
        for row in await cur.fetchall()
    ]
