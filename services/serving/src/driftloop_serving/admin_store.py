"""The admin API's queries: what people look at, and the pins they set. Plain SQL.

Lists are newest first and capped by ``limit``; optional filters are parameters that are
NULL when not given, so each query is one fixed text.
"""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import dict_row

Row = dict[str, Any]

_STREAMS = """
SELECT s.name, s.schema, s.target, s.created_at, s.spec IS NOT NULL AS has_spec,
       h.model_id AS champion_id, m.version AS champion_version, h.started_at AS serving_since,
       p.model_id AS pinned_model_id, p.actor AS pinned_by, p.at AS pinned_at
FROM streams s
LEFT JOIN serving_history h ON h.stream = s.name AND h.ended_at IS NULL
LEFT JOIN models m ON m.id = h.model_id
LEFT JOIN pins p ON p.stream = s.name
ORDER BY s.name
"""
_EXPERIMENT_COLUMNS = """
id, stream, trigger, trigger_ref, status, requested_by, reason, budget_trials, budget_seconds,
seeded_from, snapshot_hash, best_trial_id, candidate_model_id, created_at, started_at,
ended_at
"""
_EXPERIMENTS = f"""
SELECT {_EXPERIMENT_COLUMNS} FROM experiments
WHERE (%(stream)s::text IS NULL OR stream = %(stream)s)
  AND (%(status)s::text IS NULL OR status = %(status)s)
ORDER BY created_at DESC, id LIMIT %(limit)s
"""
_EXPERIMENT = f"""
SELECT {_EXPERIMENT_COLUMNS}, spec,
       (SELECT jsonb_object_agg(status, n) FROM
          (SELECT status, count(*) AS n FROM trials WHERE experiment_id = %(id)s GROUP BY status)
          AS t) AS trials
FROM experiments WHERE id = %(id)s
"""
_TRIALS = """
SELECT id, experiment_id, number, family, params, seed, status, attempt, source, seeded_from,
       metrics, duration_seconds, artifact_sha256, worker, error, created_at, finished_at
FROM trials WHERE (%(experiment_id)s::text IS NULL OR experiment_id = %(experiment_id)s)
ORDER BY created_at DESC, number DESC LIMIT %(limit)s
"""
_MODELS = """
SELECT m.id, m.stream, m.version, m.trial_id, m.artifact_sha256, m.family, m.params, m.metrics,
       m.created_at, h.id IS NOT NULL AS serving, p.model_id IS NOT NULL AS pinned
FROM models m
LEFT JOIN serving_history h ON h.model_id = m.id AND h.ended_at IS NULL
LEFT JOIN pins p ON p.stream = m.stream AND p.model_id = m.id
WHERE (%(stream)s::text IS NULL OR m.stream = %(stream)s)
ORDER BY m.stream, m.version DESC LIMIT %(limit)s
"""
_DECISIONS = """
SELECT id, stream, experiment_id, model_id, champion_id, verdict, status, metric,
       candidate_score, champion_score, test, statistic, p_value, alpha, min_gain,
       holdout_hash, reason, decided_by, decided_at, at
FROM decisions
WHERE (%(stream)s::text IS NULL OR stream = %(stream)s)
  AND (%(status)s::text IS NULL OR status = %(status)s)
ORDER BY at DESC, id LIMIT %(limit)s
"""


async def _all(conn: AsyncConnection[Any], query: str, params: dict[str, Any]) -> list[Row]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(query, params)
        return await cur.fetchall()


async def _one(conn: AsyncConnection[Any], query: str, params: dict[str, Any]) -> Row | None:
    found = await _all(conn, query, params)
    return found[0] if found else None


async def streams(conn: AsyncConnection[Any]) -> list[Row]:
    return await _all(conn, _STREAMS, {})


async def experiments(
    conn: AsyncConnection[Any], stream: str | None, status: str | None, limit: int
) -> list[Row]:
    return await _all(conn, _EXPERIMENTS, {"stream": stream, "status": status, "limit": limit})


async def experiment(conn: AsyncConnection[Any], experiment_id: str) -> Row | None:
    return await _one(conn, _EXPERIMENT, {"id": experiment_id})


async def trials(conn: AsyncConnection[Any], experiment_id: str | None, limit: int) -> list[Row]:
    return await _all(conn, _TRIALS, {"experiment_id": experiment_id, "limit": limit})


async def models(conn: AsyncConnection[Any], stream: str | None, limit: int) -> list[Row]:
    return await _all(conn, _MODELS, {"stream": stream, "limit": limit})


async def decisions(
    conn: AsyncConnection[Any], stream: str | None, status: str | None, limit: int
) -> list[Row]:
    return await _all(conn, _DECISIONS, {"stream": stream, "status": status, "limit": limit})


async def decision(conn: AsyncConnection[Any], decision_id: str) -> Row | None:
    query = "SELECT id, stream, model_id, status FROM decisions WHERE id = %(id)s FOR UPDATE"
    return await _one(conn, query, {"id": decision_id})


async def stream_exists(conn: AsyncConnection[Any], stream: str) -> bool:
    return (
        await _one(conn, "SELECT 1 AS x FROM streams WHERE name = %(s)s", {"s": stream}) is not None
    )


async def model_of(
    conn: AsyncConnection[Any], stream: str, model_id: str | None = None, version: int | None = None
) -> Row | None:
    """The stream's model by id or by version."""
    query = """
        SELECT id, version FROM models WHERE stream = %(stream)s
          AND (%(id)s::text IS NULL OR id = %(id)s)
          AND (%(version)s::int IS NULL OR version = %(version)s)
        ORDER BY version DESC LIMIT 1
    """
    return await _one(conn, query, {"stream": stream, "id": model_id, "version": version})


async def pin(conn: AsyncConnection[Any], stream: str, model_id: str, actor: str) -> Row:
    query = """
        INSERT INTO pins (stream, model_id, actor) VALUES (%(stream)s, %(model)s, %(actor)s)
        ON CONFLICT (stream) DO UPDATE
        SET model_id = EXCLUDED.model_id, actor = EXCLUDED.actor, at = now()
        RETURNING stream, model_id, actor, at
    """
    row = await _one(conn, query, {"stream": stream, "model": model_id, "actor": actor})
    assert row is not None  # RETURNING of an upsert always yields the row
    return row


async def unpin(conn: AsyncConnection[Any], stream: str) -> Row | None:
    query = "DELETE FROM pins WHERE stream = %(stream)s RETURNING stream, model_id, actor, at"
    return await _one(conn, query, {"stream": stream})
