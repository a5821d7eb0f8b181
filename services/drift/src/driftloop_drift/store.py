"""Drift's reads and writes of the knowledge store, each on a connection the caller owns."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from psycopg import AsyncConnection
from psycopg.types.json import Jsonb

from driftloop_contracts import DriftDetected, FeedbackReceived
from driftloop_learn import Dataset
from driftloop_store import get_artifact

from .monitor import StoredRecord
from .report import WindowRow, Windows

HTML = "text/html"
REPORT_PENDING = {"pending": True}  # an alarm's evidence until its report is built


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


# A label comes with its record or later as feedback (the ``labels`` table): either is
# the record's label; JSON null on the record is none. Records are placed by ``seq`` (arrival
# order): an alarm's marks name records, and their times may be those of their labels.
_LABELLED = """
SELECT r.features, COALESCE(NULLIF(r.label, 'null'), l.label) FROM records r
LEFT JOIN labels l ON l.stream = r.stream AND l.record_id = r.record_id
WHERE r.stream = %(stream)s AND {where}
ORDER BY r.seq DESC LIMIT %(rows)s
"""
_SEQ = "(SELECT seq FROM records WHERE stream = %(stream)s AND record_id = %({name})s)"


async def records_between(
    conn: AsyncConnection[Any], stream: str, first: str, last: str, rows: int
) -> list[WindowRow]:
    """The newest ``rows`` records from record ``first`` to record ``last``: what an alarm
    looked at."""
    where = f"r.seq >= {_SEQ.format(name='first')} AND r.seq <= {_SEQ.format(name='last')}"
    cur = await conn.execute(
        _LABELLED.format(where=where),
        {"stream": stream, "first": first, "last": last, "rows": rows},
    )
    return [(features, label) for features, label in await cur.fetchall()]


async def records_before(
    conn: AsyncConnection[Any], stream: str, record: str, rows: int
) -> list[WindowRow]:
    """The newest ``rows`` records before record ``record``: the reference when no champion
    serves."""
    where = f"r.seq < {_SEQ.format(name='record')}"
    cur = await conn.execute(
        _LABELLED.format(where=where), {"stream": stream, "record": record, "rows": rows}
    )
    return [(features, label) for features, label in await cur.fetchall()]


async def champion_training_window(
    conn: AsyncConnection[Any], stream: str, rows: int
) -> list[WindowRow]:
    """What the serving champion learned from: its experiment's snapshot, exactly as stored
    (newest first, at most ``rows``).

    Empty when the champion has no snapshot on record (a model registered by hand), or
    when the snapshot's bytes do not match their hash.
    """
    cur = await conn.execute(
        """
        SELECT e.snapshot_hash FROM serving_history h
        JOIN models m ON m.stream = h.stream AND m.id = h.model_id
        JOIN trials t ON t.id = m.trial_id
        JOIN experiments e ON e.id = t.experiment_id
        WHERE h.stream = %s AND h.ended_at IS NULL AND e.snapshot_hash IS NOT NULL
        """,
        (stream,),
    )
    found = await cur.fetchone()
    data = await get_artifact(conn, found[0]) if found else None
    if found is None or data is None or hashlib.sha256(data).hexdigest() != found[0]:
        return []
    snapshot = Dataset.from_bytes(data)
    return [(row.features, row.label) for row in reversed(snapshot.rows[-rows:])]


async def report_windows(
    conn: AsyncConnection[Any],
    stream: str,
    *,
    change: str,
    alarm: str,
    champion: str | None,
    rows: int,
) -> Windows:
    """The records from the change to the alarm (both record ids), against the champion's
    training window, or against the records before the change when there is no champion
    (or no snapshot)."""
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


async def attach_report(
    conn: AsyncConnection[Any], event_id: UUID, uri: str | None, report: dict[str, Any]
) -> None:
    """The report built after the alarm went out: its link, and what it compared (or why
    it failed) in the evidence."""
    await conn.execute(
        "UPDATE drift_events SET report_uri = %s,"
        " evidence = jsonb_set(evidence, '{report}', %s) WHERE event_id = %s",
        (uri, Jsonb(report), str(event_id)),
    )


async def abandon_reports(conn: AsyncConnection[Any], event_ids: list[UUID], why: str) -> None:
    """Reports that will not be built: their events' evidence says why, instead of pending."""
    await conn.execute(
        "UPDATE drift_events SET evidence = jsonb_set(evidence, '{report}', %s)"
        " WHERE event_id = ANY(%s) AND evidence->'report' = %s",
        (Jsonb({"error": why}), [str(e) for e in event_ids], Jsonb(REPORT_PENDING)),
    )


async def save_labels(conn: AsyncConnection[Any], feedback: Sequence[FeedbackReceived]) -> int:
    """Keep labels that came as feedback, so experiments train on them (the first label
    of a record wins); labels for streams nobody registered are dropped. How many were new."""
    if not feedback:
        return 0
    cur = await conn.execute(
        """
        INSERT INTO labels (stream, record_id, label, event_id)
        SELECT t.stream, t.record_id, t.label::jsonb, t.event_id
        FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[])
             AS t(stream, record_id, label, event_id)
        WHERE EXISTS (SELECT 1 FROM streams WHERE name = t.stream)
        ON CONFLICT (stream, record_id) DO NOTHING
        """,
        (
            [f.stream for f in feedback],
            [f.record_id for f in feedback],
            [json.dumps(f.label) for f in feedback],
            [str(f.event_id) for f in feedback],
        ),
    )
    return cur.rowcount
