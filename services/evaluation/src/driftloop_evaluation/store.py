"""What evaluation reads from the knowledge store, and the models it registers.

Each function runs on the caller's connection; the caller owns the transaction.
Evaluation is the only writer of models, holdouts, decisions and serving history
(``ledger``); it serialises its work on a stream by locking the stream's row
(``FOR NO KEY UPDATE``, which leaves ingestion's inserts unblocked).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import uuid4

from psycopg import AsyncConnection
from psycopg.rows import class_row
from psycopg.types.json import Jsonb

from driftloop_learn import Dataset, rows_from, sha256
from driftloop_store import JsonObject, ModelRow, get_artifact, labelled_rows

from .promotion import Pin

Conn = AsyncConnection[Any]
_MODEL = "m.id, m.stream, m.version, m.trial_id, m.artifact_sha256, m.family, m.params,"
_MODEL += " m.metrics, m.created_at"


@dataclass(frozen=True)
class ExperimentRow:
    id: str
    stream: str
    spec: JsonObject
    snapshot_hash: str | None
    best_trial_id: str | None
    candidate_model_id: str | None


@dataclass(frozen=True)
class TrialRow:
    id: str
    experiment_id: str
    family: str
    params: JsonObject
    metrics: JsonObject | None
    artifact_sha256: str | None
    status: str


@dataclass(frozen=True)
class Origin:
    """Where a model's training rows came from: its experiment's spec and snapshot."""

    spec: JsonObject
    snapshot_hash: str


async def lock_stream(conn: Conn, stream: str) -> bool:
    """Hold the stream for this transaction; False if no such stream is registered."""
    cur = await conn.execute("SELECT 1 FROM streams WHERE name = %s FOR NO KEY UPDATE", (stream,))
    return await cur.fetchone() is not None


async def experiment(conn: Conn, experiment_id: str) -> ExperimentRow | None:
    async with conn.cursor(row_factory=class_row(ExperimentRow)) as cur:
        await cur.execute(
            "SELECT id, stream, spec, snapshot_hash, best_trial_id, candidate_model_id"
            " FROM experiments WHERE id = %s",
            (experiment_id,),
        )
        return await cur.fetchone()


async def window_definition(conn: Conn, snapshot_hash: str) -> JsonObject:
    cur = await conn.execute(
        "SELECT window_definition FROM snapshots WHERE hash = %s", (snapshot_hash,)
    )
    row = await cur.fetchone()
    return dict(row[0]) if row and isinstance(row[0], dict) else {}


async def trial(conn: Conn, trial_id: str) -> TrialRow | None:
    async with conn.cursor(row_factory=class_row(TrialRow)) as cur:
        await cur.execute(
            "SELECT id, experiment_id, family, params, metrics, artifact_sha256, status"
            " FROM trials WHERE id = %s",
            (trial_id,),
        )
        return await cur.fetchone()


async def model(conn: Conn, model_id: str) -> ModelRow | None:
    return await _one_model(conn, f"SELECT {_MODEL} FROM models m WHERE m.id = %s", model_id)


async def model_by_version(conn: Conn, stream: str, version: int) -> ModelRow | None:
    sql = f"SELECT {_MODEL} FROM models m WHERE m.stream = %s AND m.version = %s"
    return await _one_model(conn, sql, stream, version)


async def model_of_trial(conn: Conn, trial_id: str) -> ModelRow | None:
    return await _one_model(conn, f"SELECT {_MODEL} FROM models m WHERE m.trial_id = %s", trial_id)


async def champion(conn: Conn, stream: str) -> ModelRow | None:
    """The model the open serving-history row names."""
    sql = (
        f"SELECT {_MODEL} FROM serving_history h JOIN models m ON m.id = h.model_id"
        " WHERE h.stream = %s AND h.ended_at IS NULL"
    )
    return await _one_model(conn, sql, stream)


async def previous_model(conn: Conn, stream: str, current: str | None) -> ModelRow | None:
    """The model that served most recently before ``current`` took over."""
    sql = (
        f"SELECT {_MODEL} FROM serving_history h JOIN models m ON m.id = h.model_id"
        " WHERE h.stream = %s AND h.ended_at IS NOT NULL AND h.model_id IS DISTINCT FROM %s"
        " ORDER BY h.id DESC LIMIT 1"
    )
    return await _one_model(conn, sql, stream, current)


async def pin(conn: Conn, stream: str) -> Pin | None:
    cur = await conn.execute(
        "SELECT p.model_id, m.version, p.actor FROM pins p"
        " JOIN models m ON m.id = p.model_id WHERE p.stream = %s",
        (stream,),
    )
    row = await cur.fetchone()
    return Pin(row[0], row[1], row[2]) if row else None


async def model_origin(conn: Conn, model_id: str) -> Origin | None:
    cur = await conn.execute(
        "SELECT e.spec, e.snapshot_hash FROM models m JOIN trials t ON t.id = m.trial_id"
        " JOIN experiments e ON e.id = t.experiment_id"
        " WHERE m.id = %s AND e.snapshot_hash IS NOT NULL",
        (model_id,),
    )
    row = await cur.fetchone()
    return Origin(row[0], row[1]) if row else None


async def fresh_rows(conn: Conn, stream: str, after_seq: int, limit: int) -> Dataset:
    """The newest ``limit`` labelled records after ``after_seq``, oldest first."""
    return rows_from(await labelled_rows(conn, stream, last=limit, after_seq=after_seq))


async def register_model(conn: Conn, stream: str, trial: TrialRow) -> ModelRow:
    """A trial's model as the stream's next version (the stream is locked: no race)."""
    async with conn.cursor(row_factory=class_row(ModelRow)) as cur:
        await cur.execute(
            "INSERT INTO models (id, stream, version, trial_id, artifact_sha256, family,"
            " params, metrics)"
            " SELECT %s, %s, COALESCE(MAX(version), 0) + 1, %s, %s, %s, %s, %s"
            " FROM models WHERE stream = %s"
            " RETURNING id, stream, version, trial_id, artifact_sha256, family, params,"
            " metrics, created_at",
            (
                str(uuid4()),
                stream,
                trial.id,
                trial.artifact_sha256,
                trial.family,
                Jsonb(trial.params),
                Jsonb(trial.metrics or {}),
                stream,
            ),
        )
        row = await cur.fetchone()
    if row is None:
        raise RuntimeError("INSERT ... RETURNING returned no row")
    return row


async def artifact_intact(conn: Conn, artifact_sha256: str) -> bool:
    """Whether the stored bytes still hash to the recorded sha256."""
    data = await get_artifact(conn, artifact_sha256)
    return data is not None and sha256(data) == artifact_sha256


async def _one_model(conn: Conn, sql: str, *params: Any) -> ModelRow | None:
    async with conn.cursor(row_factory=class_row(ModelRow)) as cur:
        await cur.execute(sql, params)
        return await cur.fetchone()
