"""What earlier experiments left that a new one reads, and what it records reading:
prior experiments with their snapshots' meta-features and scored trials, archived models
with their artifacts, and the ``experiment_seeds`` rows that say which were used."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from psycopg import AsyncConnection
from psycopg.types.json import Jsonb

from driftloop_store import get_artifact

from .knowledge import PriorExperiment, PriorTrial
from .rescore import Artifact
from .search import Config

Conn = AsyncConnection[Any]


async def snapshot_meta(conn: Conn, snapshot_hash: str) -> dict[str, float]:
    cur = await conn.execute(
        "SELECT meta_features FROM snapshots WHERE hash = %s", (snapshot_hash,)
    )
    row = await cur.fetchone()
    return dict(row[0]) if row else {}


async def prior_experiments(conn: Conn, experiment_id: str, metric: str) -> list[PriorExperiment]:
    """Completed experiments of the same stream that ended before this one was created,
    with their snapshot's meta-features and their completed trials scored by ``metric``.
    Fixed by this experiment's creation, so every ask of it sees the same priors."""
    cur = await conn.execute(
        """
        SELECT e.id, s.meta_features, t.id, t.family, t.params, t.metrics
        FROM experiments this
        JOIN experiments e ON e.stream = this.stream AND e.id <> this.id
        JOIN snapshots s ON s.hash = e.snapshot_hash
        LEFT JOIN trials t ON t.experiment_id = e.id AND t.status = 'completed'
        WHERE this.id = %s AND e.status = 'completed' AND e.ended_at <= this.created_at
        ORDER BY e.created_at, e.id, t.number
        """,
        (experiment_id,),
    )
    found: dict[str, tuple[dict[str, float], list[PriorTrial]]] = {}
    for prior_id, meta, trial_id, family, params, metrics in await cur.fetchall():
        _, trials_of = found.setdefault(prior_id, (dict(meta), []))
        score = (metrics or {}).get(metric)
        if trial_id is not None and isinstance(score, int | float) and math.isfinite(score):
            trials_of.append(PriorTrial(trial_id, Config(family, params), float(score)))
    return [PriorExperiment(i, meta, tuple(ts)) for i, (meta, ts) in found.items()]


@dataclass(frozen=True)
class ArchivedModel:
    artifact: Artifact
    version: int
    experiment_id: str | None


async def model_artifact(conn: Conn, model_id: str) -> Artifact | None:
    cur = await conn.execute("SELECT artifact_sha256 FROM models WHERE id = %s", (model_id,))
    row = await cur.fetchone()
    return None if row is None else Artifact(model_id, row[0], await get_artifact(conn, row[0]))


async def archived_models(
    conn: Conn, stream: str, champion: str | None, limit: int
) -> list[ArchivedModel]:
    """The stream's newest models but the champion, with their artifacts' bytes.

    A quick model, trained on a window short of the spec's (the first labels after a
    change), is no answer to a concept coming back: it was a stop-gap until its refit, and
    as an archived "winner" it would end the very experiment meant to replace it."""
    cur = await conn.execute(
        """
        SELECT m.id, m.artifact_sha256, m.version, t.experiment_id
        FROM models m LEFT JOIN trials t ON t.id = m.trial_id
        LEFT JOIN experiments e ON e.id = t.experiment_id
        LEFT JOIN snapshots sn ON sn.hash = e.snapshot_hash
        WHERE m.stream = %s AND m.id IS DISTINCT FROM %s
          AND (sn.row_count IS NULL OR e.spec -> 'window' ->> 'last_labelled' IS NULL
               OR sn.row_count >= (e.spec -> 'window' ->> 'last_labelled')::bigint)
        ORDER BY m.version DESC LIMIT %s
        """,
        (stream, champion, limit),
    )
    return [
        ArchivedModel(Artifact(model_id, sha, await get_artifact(conn, sha)), version, source)
        for model_id, sha, version, source in await cur.fetchall()
    ]


@dataclass(frozen=True)
class Seed:
    kind: str
    source_id: str
    source_experiment_id: str | None
    distance: float | None
    score: float | None
    detail: dict[str, Any]


async def record_seeds(conn: Conn, experiment_id: str, seeds: Sequence[Seed]) -> None:
    async with conn.cursor() as cur:
        await cur.executemany(
            """
            INSERT INTO experiment_seeds (experiment_id, kind, source_id, source_experiment_id,
                distance, score, detail)
            VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING
            """,
            [
                (
                    experiment_id,
                    s.kind,
                    s.source_id,
                    s.source_experiment_id,
                    s.distance,
                    s.score,
                    Jsonb(s.detail),
                )
                for s in seeds
            ],
        )
