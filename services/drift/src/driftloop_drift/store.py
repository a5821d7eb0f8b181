"""Drift's reads and writes of the knowledge store, each on a connection the caller owns."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg import AsyncConnection
from psycopg.types.json import Jsonb

from driftloop_contracts import DriftDetected

from .monitor import StoredRecord
from .report import WindowRow, Windows

HTML = "text/html"


@dataclass(frozen=True)
class StreamContext:
    spec: dict[str, Any] | None
    champion: str | None


async def stream_context(conn: AsyncConnection[Any], stream: str) -> StreamContext | None:
    """The stream's spec and the model serving it now; None for an unknown stream."""
    cur = await conn.execute(
        """
        SELECT s.spec, h.model_id FROM streams s
        LEFT JOIN serving_history h ON h.stream = s.name AND h.ended_at IS NULL
        WHERE s.name = %s
        """,
        (stream,),
    )
    row = await cur.fetchone()
    return StreamContext(row[0], row[1]) if row else None


async def batch_records(
    conn: AsyncConnection[Any], stream: str, batch_id: UUID
) -> list[StoredRecord]:
    """The records one ``RecordsIngested`` announced, in arrival order."""
    cur = await conn.execute(
        "SELECT record_id, event_time, features, label FROM records"
        " WHERE batch_id = %s AND stream = %s ORDER BY seq",
        (batch_id, stream),
    )
    return [StoredRecord(*row) for row in await cur.fetchall()]


async def records_between(
    conn: AsyncConnection[Any], stream: str, start: datetime, end: datetime, rows: int
) -> list[WindowRow]:
    """The newest ``rows`` records from ``start`` to ``end``: what an alarm looked at."""
    cur = await conn.execute(
        "SELECT features, label FROM records"
        " WHERE stream = %s AND event_time >= %s AND event_time <= %s"
        " ORDER BY event_time DESC, seq DESC LIMIT %s",
        (stream, start, end, rows),
    )
    return [(features, label) for features, label in await cur.fetchall()]


async def records_before(
    conn: AsyncConnection[Any], stream: str, end: datetime, rows: int
) -> list[WindowRow]:
    """The newest ``rows`` records before ``end``: the reference when no champion serves."""
    cur = await conn.execute(
        "SELECT features, label FROM records WHERE stream = %s AND event_time < %s"
        " ORDER BY event_time DESC, seq DESC LIMIT %s",
        (stream, end, rows),
    )
    return [(features, label) for features, label in await cur.fetchall()]


async def champion_training_window(
    conn: AsyncConnection[Any], stream: str, rows: int
) -> list[WindowRow]:
    """What the serving champion learned from: its experiment's snapshot, read as the
    newest ``row_count`` labelled records ingested before the snapshot was taken.

    Empty when the champion has no snapshot on record (a model registered by hand).
    """
    cur = await conn.execute(
        """
        WITH snapshot AS (
            SELECT s.created_at, s.row_count FROM serving_history h
            JOIN models m ON m.stream = h.stream AND m.id = h.model_id
            JOIN trials t ON t.id = m.trial_id
            JOIN experiments e ON e.id = t.experiment_id
            JOIN snapshots s ON s.hash = e.snapshot_hash
            WHERE h.stream = %(stream)s AND h.ended_at IS NULL
        )
        SELECT r.features, r.label FROM records r, snapshot
        WHERE r.stream = %(stream)s AND r.label IS NOT NULL
          AND r.ingested_at <= snapshot.created_at
        ORDER BY r.seq DESC LIMIT least((SELECT row_count FROM snapshot), %(rows)s)
        """,
        {"stream": stream, "rows": rows},
    )
    return [(features, label) for features, label in await cur.fetchall()]


async def report_windows(
    conn: AsyncConnection[Any],
    stream: str,
    *,
    change: datetime,
    alarm: datetime,
    champion: str | None,
    rows: int,
) -> Windows:
    """The records from the change to the alarm, against the champion's training window,
    or against the records before the change when there is no champion (or no snapshot)."""
    current = await records_between(conn, stream, change, alarm, rows)
    if champion is not None:
        reference = await champion_training_window(conn, stream, rows)
        if reference:
            return Windows(reference, current, "champion_training_window")
    return Windows(await records_before(conn, stream, change, rows), current, "before_change")


async def save_report(conn: AsyncConnection[Any], html: bytes) -> str:
    """Store the HTML content-addressed; the same report twice is one row."""
    digest = hashlib.sha256(html).hexdigest()
    await conn.execute(
        "INSERT INTO artifacts (sha256, bytes, size, media_type) VALUES (%s, %s, %s, %s)"
        " ON CONFLICT (sha256) DO NOTHING",
        (digest, html, len(html), HTML),
    )
    return digest


async def record_drift(
    conn: AsyncConnection[Any], event: DriftDetected, evidence: dict[str, Any]
) -> None:
    await conn.execute(
        """
        INSERT INTO drift_events (event_id, stream, source, detector, features, statistic,
            severity, window_start, window_end, report_uri, evidence, at)
        VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
        ON CONFLICT (event_id) DO NOTHING
        """,
        (
            str(event.event_id),
            event.stream,
            event.source.value,
            event.detector,
            list(event.features),
            event.statistic,
            event.severity.value,
            event.window_start,
            event.window_end,
            event.report_uri,
            Jsonb(evidence),
            event.occurred_at,
        ),
    )
