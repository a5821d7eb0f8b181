"""What a decision reads, gathered under the stream's lock: the experiment's spec and
snapshot, the candidate (the best trial's model or an archived one), champion and pin.

Anything missing or altered ends here with a failure alert and no decision: there is
nothing to judge, or nothing to judge it on.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from driftloop_contracts import ExperimentCompleted
from driftloop_learn import Dataset, sha256
from driftloop_runtime import Transaction
from driftloop_spec import ExperimentSpec
from driftloop_store import JsonObject, ModelRow, get_artifact

from . import notices, store
from .promotion import Pin
from .service import Notes, parse_spec, stream_spec

logger = logging.getLogger("driftloop.evaluation")


@dataclass(frozen=True)
class Candidate:
    artifact_sha256: str
    score: float | None  # its validation score, recorded if it cannot be judged
    trial: store.TrialRow | None = None
    model: ModelRow | None = None  # already registered
    recurring: bool = False


@dataclass(frozen=True)
class Case:
    """Everything a decision reads, gathered under the stream's lock."""

    spec: ExperimentSpec
    snapshot: Dataset
    snapshot_hash: str
    window: JsonObject
    candidate: Candidate
    champion: ModelRow | None
    pin: Pin | None


async def gather(tx: Transaction, event: ExperimentCompleted, notes: Notes) -> Case | None:
    conn = tx.conn
    fallback = await stream_spec(tx, event.stream)

    def fail(what: str) -> None:
        logger.error("experiment %s: %s; no decision", event.experiment_id, what)
        notes.add(notices.failure(event, event.stream, f"{what}; no decision made"), fallback)

    row = await store.experiment(conn, event.experiment_id)
    if row is None:
        fail(f"experiment {event.experiment_id} is not in the store")
        return None
    spec = parse_spec(row.spec, f"experiment {row.id}") or fallback
    if spec is None:
        fail(f"experiment {row.id} has no valid spec")
        return None
    snapshot_hash = row.snapshot_hash or event.snapshot_hash
    data = await get_artifact(conn, snapshot_hash) if snapshot_hash else None
    if snapshot_hash is None or data is None or sha256(data) != snapshot_hash:
        fail(f"snapshot {snapshot_hash} is missing or altered: no holdout to judge on")
        return None
    candidate = await _candidate(tx, event, row, spec.objective.metric)
    if isinstance(candidate, str):
        fail(candidate)
        return None
    return Case(
        spec=spec,
        snapshot=await asyncio.to_thread(Dataset.from_bytes, data),
        snapshot_hash=snapshot_hash,
        window=await store.window_definition(conn, snapshot_hash),
        candidate=candidate,
        champion=await store.champion(conn, event.stream),
        pin=await store.pin(conn, event.stream),
    )


async def _candidate(
    tx: Transaction, event: ExperimentCompleted, row: store.ExperimentRow, metric: str
) -> Candidate | str:
    """The model to judge, or why there is none."""
    if model_id := event.candidate_model_id or row.candidate_model_id:
        model = await store.model(tx.conn, model_id)
        if model is None or model.stream != event.stream:
            return f"candidate {model_id} is not a model of stream {event.stream}"
        score = _score(model.metrics, metric)
        return Candidate(model.artifact_sha256, score, model=model, recurring=True)
    if (trial_id := event.best_trial_id or row.best_trial_id) is None:
        return f"experiment {row.id} completed without a candidate"
    trial = await store.trial(tx.conn, trial_id)
    if trial is None or trial.experiment_id != row.id or trial.artifact_sha256 is None:
        return f"best trial {trial_id} of experiment {row.id} has no model"
    existing = await store.model_of_trial(tx.conn, trial_id)
    return Candidate(trial.artifact_sha256, _score(trial.metrics, metric), trial, existing)


def _score(metrics: JsonObject | None, metric: str) -> float | None:
    value = (metrics or {}).get(metric)
    return float(value) if isinstance(value, int | float) else None
