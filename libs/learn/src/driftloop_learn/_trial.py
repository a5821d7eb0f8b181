"""One trial: fit one configuration on a snapshot and score it, deterministically.

The snapshot's newest rows are the holdout, kept for the promotion gate, and are never
touched here. Of the rest, the newest ``validation`` share scores the trial (the search's
objective) and the older rows train it: on a stream the future is what a model must
predict, so it is validated on what came after what it learned from.
"""

from __future__ import annotations

import functools
import subprocess
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from threadpoolctl import threadpool_limits

from ._data import Dataset, Split
from ._families import Task, get_family
from ._metrics import NEEDS_PROBA, score
from ._model import Model

VALIDATION = 0.2
LIBRARIES = ("driftloop-learn", "scikit-learn", "river", "numpy", "scipy")


@dataclass(frozen=True)
class HoldoutSize:
    fraction: float | None = None
    count: int | None = None

    def split(self, snapshot: Dataset) -> Split:
        """Training rows apart from the holdout: the newest rows of the snapshot."""
        return snapshot.split_tail(self.fraction, self.count)


@dataclass(frozen=True)
class TrialResult:
    model: Model
    metrics: dict[str, float]
    duration_seconds: float
    lineage: dict[str, Any] = field(default_factory=dict)
    # CPU time of the trial's thread: what training cost, whatever else the machine did.
    cpu_seconds: float = 0.0


def run_trial(
    snapshot: Dataset,
    *,
    family: str,
    params: dict[str, Any],
    seed: int,
    task: Task,
    metric: str,
    holdout: HoldoutSize,
) -> TrialResult:
    started, cpu = time.perf_counter(), time.thread_time()
    training = holdout.split(snapshot).head
    parts = training.split_tail(VALIDATION)
    if len(parts.head) < 2 or len(parts.tail) < 1:
        raise ValueError(f"too few labelled rows to train and validate: {len(training)}")
    # One thread per trial: replicas, not threads, are how training scales, and OpenMP's
    # thread per core made boosted trees 20-60x slower on a busy 2-core machine.
    with threadpool_limits(limits=1):
        model = get_family(family).build(params, seed, task).fit(parts.head)
        metrics = evaluate(model, parts.tail, metric)
    metrics.update(train_rows=float(len(parts.head)), validation_rows=float(len(parts.tail)))
    return TrialResult(
        model,
        metrics,
        time.perf_counter() - started,
        lineage(),
        cpu_seconds=time.thread_time() - cpu,
    )


def evaluate(model: Model, data: Dataset, metric: str) -> dict[str, float]:
    predictions = model.predict(data.X)
    proba = model.predict_proba(data.X) if metric in NEEDS_PROBA else None
    return {metric: score(metric, data.y, predictions, proba)}


def lineage() -> dict[str, Any]:
    """What code made a model: the driftloop commit (when known) and library versions."""
    return {"code_version": code_version(), "library_versions": library_versions()}


@functools.cache
def library_versions() -> dict[str, str]:
    found: dict[str, str] = {}
    for name in LIBRARIES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "unknown"
    return found


@functools.cache
def code_version() -> str:
    """The git commit of the checkout this runs from, with ``+dirty`` for local changes,
    or the package version when it runs from an installed wheel."""
    here = Path(__file__).resolve().parent
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5
        )
        if sha.returncode == 0:
            dirty = subprocess.run(
                ["git", "status", "--porcelain", "--untracked-files=no"],
                cwd=here,
                capture_output=True,
                text=True,
                timeout=5,
            )
            return sha.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        pass
    return f"driftloop-learn {library_versions()['driftloop-learn']}"
