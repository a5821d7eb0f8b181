"""One trial from the snapshot's stored bytes to a model artifact: pure and synchronous.

Whatever goes wrong in here belongs to the trial itself: a parameter the estimator
refuses, too few rows, an unknown family, a spec that no longer validates, snapshot bytes
that are not the hash the trial names. Running it again would fail the same way, since a
trial is deterministic, so it comes back as ``Failed`` with a reason to record, never as
an exception that would have Kafka deliver the request again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from driftloop_learn import Dataset, HoldoutSize, Task, dump, run_trial, verify
from driftloop_spec import ExperimentSpec, SpecError, validate_spec

REASON_LIMIT = 500  # characters of an error kept in trials.error and TrialFailed.reason


@dataclass(frozen=True)
class Job:
    """What a trial runs: one configuration, its seed, and how the spec scores it."""

    family: str
    params: dict[str, Any]
    seed: int
    snapshot_hash: str
    task: Task
    metric: str
    holdout: HoldoutSize


@dataclass(frozen=True)
class Trained:
    metrics: dict[str, float]
    duration_seconds: float
    cpu_seconds: float
    artifact: bytes
    artifact_sha256: str
    code_version: str
    library_versions: dict[str, str]


@dataclass(frozen=True)
class Failed:
    reason: str


Outcome = Trained | Failed


def reason(exc: BaseException) -> str:
    """``Type: first line of the message``, short enough for a row and an event."""
    lines = str(exc).strip().splitlines()
    text = f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__
    return text if len(text) <= REASON_LIMIT else text[: REASON_LIMIT - 1] + "…"


def pick_spec(experiment: object, stream: object) -> ExperimentSpec:
    """The spec the experiment was started with, else the stream's.

    The experiment's copy is the one its search space came from (a person may override
    the stream's spec for one experiment, and a stream may be re-registered since), so it
    decides the metric and holdout. Raises ``SpecError`` when neither validates.
    """
    try:
        return validate_spec(experiment)
    except SpecError:
        if stream is None:
            raise
        return validate_spec(stream)


def job(
    spec: ExperimentSpec, *, family: str, params: dict[str, Any], seed: int, snapshot_hash: str
) -> Job:
    return Job(
        family=family,
        params=params,
        seed=seed,
        snapshot_hash=snapshot_hash,
        task=spec.task,
        metric=spec.objective.metric,
        holdout=HoldoutSize(spec.holdout.fraction, spec.holdout.count),
    )


def train(job: Job, snapshot: bytes) -> Outcome:
    """Fit and score ``job`` on the snapshot, and pickle the model; same inputs, same result
    (but the duration)."""
    try:
        # Checked before the bytes are read: a swapped snapshot would train a model whose
        # lineage names data it never saw.
        verify(snapshot, job.snapshot_hash)
        result = run_trial(
            Dataset.from_bytes(snapshot),
            family=job.family,
            params=job.params,
            seed=job.seed,
            task=job.task,
            metric=job.metric,
            holdout=job.holdout,
        )
        artifact, digest = dump(result.model)
    except Exception as exc:
        return Failed(reason(exc))
    return Trained(
        metrics=result.metrics,
        duration_seconds=result.duration_seconds,
        cpu_seconds=result.cpu_seconds,
        artifact=artifact,
        artifact_sha256=digest,
        code_version=str(result.lineage.get("code_version", "unknown")),
        library_versions=dict(result.lineage.get("library_versions", {})),
    )
