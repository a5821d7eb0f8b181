"""Replay a trial: train again from its snapshot and seed, and compare with what was recorded.

A trial is a pure function of its snapshot (content-addressed), family, parameters, seed
and the experiment's spec (task, metric, holdout); its metrics must come out identical,
bit for bit. The model's artifact hash is compared too, but only as information: pickle
bytes also depend on dict order (jsonb reorders the parameters), on which equal strings
are shared objects, and for river models on the state of an unseeded ``random.Random``
inside their Gaussian estimators, so equal models can pickle differently.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import dict_row

from driftloop_learn import ArtifactMismatch, Dataset, HoldoutSize, dump, run_trial, verify
from driftloop_learn import lineage as current_lineage
from driftloop_spec import ExperimentSpec, SpecError, validate_spec
from driftloop_store import get_artifact


class CannotReplay(RuntimeError):
    """The trial cannot be run again: unknown, unfinished, or its snapshot is gone or altered."""


@dataclass(frozen=True)
class Inputs:
    trial: dict[str, Any]
    spec: ExperimentSpec
    snapshot_hash: str
    snapshot: bytes


@dataclass(frozen=True)
class Replay:
    trial_id: str
    recorded: dict[str, float]
    replayed: dict[str, float]
    recorded_artifact: str | None
    replayed_artifact: str
    recorded_lineage: dict[str, Any]
    current_lineage: dict[str, Any]

    @property
    def identical(self) -> bool:
        return self.recorded.keys() == self.replayed.keys() and all(
            same(self.recorded[name], self.replayed[name]) for name in self.recorded
        )

    @property
    def differing(self) -> list[str]:
        names = sorted(self.recorded.keys() | self.replayed.keys())
        return [n for n in names if not same(self.recorded.get(n), self.replayed.get(n))]


def same(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    return a == b or (math.isnan(a) and math.isnan(b))


async def load_inputs(conn: AsyncConnection[Any], trial_id: str) -> Inputs:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            """SELECT t.id, t.family, t.params, t.seed, t.status, t.metrics, t.artifact_sha256,
                      t.code_version, t.library_versions, e.spec, e.snapshot_hash,
                      s.spec AS stream_spec
               FROM trials t JOIN experiments e ON e.id = t.experiment_id
               JOIN streams s ON s.name = e.stream WHERE t.id = %s""",
            (trial_id,),
        )
        trial = await cur.fetchone()
    if trial is None:
        raise CannotReplay(f"no trial {trial_id} in the knowledge base")
    if trial["status"] != "completed" or trial["metrics"] is None:
        raise CannotReplay(f"trial {trial_id} is {trial['status']}: it has no metrics to compare")
    snapshot_hash = trial["snapshot_hash"]
    if snapshot_hash is None:
        raise CannotReplay(f"trial {trial_id}'s experiment recorded no snapshot")
    snapshot = await get_artifact(conn, snapshot_hash)
    if snapshot is None:
        raise CannotReplay(f"snapshot {snapshot_hash} is not in the artifact store")
    return Inputs(trial, _spec(trial["spec"], trial["stream_spec"]), snapshot_hash, snapshot)


def _spec(experiment: object, stream: object) -> ExperimentSpec:
    """The spec training used: the experiment's, else (invalid there) the stream's."""
    try:
        return validate_spec(experiment)
    except SpecError:
        try:
            return validate_spec(stream)
        except SpecError as exc:
            raise CannotReplay(f"no valid spec to replay with: {exc}") from None


def replay(inputs: Inputs) -> Replay:
    """Run the trial again exactly as training ran it (raises CannotReplay on altered data)."""
    try:
        verify(inputs.snapshot, inputs.snapshot_hash)
    except ArtifactMismatch as exc:
        raise CannotReplay(f"snapshot {inputs.snapshot_hash}: {exc}") from None
    trial, spec = inputs.trial, inputs.spec
    result = run_trial(
        Dataset.from_bytes(inputs.snapshot),
        family=trial["family"],
        params=trial["params"],
        seed=trial["seed"],
        task=spec.task,
        metric=spec.objective.metric,
        holdout=HoldoutSize(fraction=spec.holdout.fraction, count=spec.holdout.count),
    )
    return Replay(
        trial_id=trial["id"],
        recorded={name: float(value) for name, value in trial["metrics"].items()},
        replayed=result.metrics,
        recorded_artifact=trial["artifact_sha256"],
        replayed_artifact=dump(result.model)[1],
        recorded_lineage={
            "code_version": trial["code_version"],
            "library_versions": trial["library_versions"] or {},
        },
        current_lineage=current_lineage(),
    )
