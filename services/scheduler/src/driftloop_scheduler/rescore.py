"""Recurring concepts, pure: archived models re-scored on a new window's holdout, and the
best one judged against the champion by the promotion gate on that same holdout.

When a concept comes back, a model that learned it before may already beat the
champion: then the experiment answers with that model and trains nothing. Artifacts are
unpickled only when their bytes have the hash the store recorded (``driftloop_learn.load``);
one that does not, or that cannot score the new rows, is skipped and said why.
"""

from __future__ import annotations

import pickle
from collections.abc import Sequence
from dataclasses import dataclass

from driftloop_learn import (
    NEEDS_PROBA,
    ArtifactMismatch,
    Dataset,
    GateResult,
    Model,
    Scored,
    compare,
    first_model,
    load,
)
from driftloop_spec import ExperimentSpec

from .knowledge import rank_archived


@dataclass(frozen=True)
class Artifact:
    model_id: str
    sha256: str
    data: bytes | None  # None when the store holds no such artifact


@dataclass(frozen=True)
class Rescoring:
    scores: tuple[tuple[str, float], ...]  # (model id, score), best first
    skipped: tuple[tuple[str, str], ...]  # (model id, why)
    winner: str | None  # the archived model that passed the gate
    gate: GateResult | None
    reason: str


def rescore(
    spec: ExperimentSpec,
    holdout: Dataset,
    archived: Sequence[Artifact],
    champion: Artifact | None,
) -> Rescoring:
    """CPU work (unpickling, predicting, a significance test): run it off the event loop."""
    metric = spec.objective.metric
    loaded: list[tuple[str, Model]] = []
    skipped: list[tuple[str, str]] = []
    for artifact in archived:
        model = _load(artifact)
        if isinstance(model, str):
            skipped.append((artifact.model_id, model))
        else:
            loaded.append((artifact.model_id, model))
    scores = tuple(rank_archived(loaded, holdout, metric))
    ranked = {model_id for model_id, _ in scores}
    skipped += [
        (model_id, "cannot score the new rows") for model_id, _ in loaded if model_id not in ranked
    ]
    if not scores:
        return Rescoring((), tuple(skipped), None, None, "no archived model could be scored")
    best_id = scores[0][0]
    candidate = _scored(dict(loaded)[best_id], holdout, metric)
    if isinstance(candidate, str):
        return Rescoring(scores, tuple(skipped), None, None, candidate)
    if champion is None:
        gate = first_model(metric, holdout.y, candidate, spec.promotion.first_model_threshold)
    else:
        model = _load(champion)
        scored = model if isinstance(model, str) else _scored(model, holdout, metric)
        if isinstance(scored, str):
            why = f"champion {champion.model_id} cannot be judged against: {scored}"
            return Rescoring(scores, tuple(skipped), None, None, why)
        gate = compare(
            metric,
            holdout.y,
            candidate,
            scored,
            test=spec.promotion_test,
            alpha=spec.promotion.alpha,
            min_gain=spec.promotion.min_gain,
            seed=spec.seed,
        )
    return Rescoring(scores, tuple(skipped), best_id if gate.passed else None, gate, gate.reason)


def _load(artifact: Artifact) -> Model | str:
    """The model, or why it cannot be had."""
    if artifact.data is None:
        return f"artifact {artifact.sha256[:12]} is missing from the store"
    try:
        return load(artifact.data, artifact.sha256)
    except ArtifactMismatch as exc:
        return str(exc)
    # Bytes with the right hash may still not unpickle here: a family this host lacks.
    except (pickle.UnpicklingError, ImportError, AttributeError, EOFError) as exc:
        return f"artifact {artifact.sha256[:12]} cannot be loaded: {exc}"


def _scored(model: Model, holdout: Dataset, metric: str) -> Scored | str:
    try:
        predictions = model.predict(holdout.X)
        proba = model.predict_proba(holdout.X) if metric in NEEDS_PROBA else None
    except (ValueError, TypeError, KeyError) as exc:
        return f"cannot predict the new rows: {exc}"
    return Scored(predictions, proba)
