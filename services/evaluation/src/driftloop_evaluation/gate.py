"""The decision on one candidate: load both models, score them on the same rows, decide.

Pure and synchronous (the service runs it in a worker thread). A model whose bytes do
not hash to the recorded sha256 is never unpickled; a model that cannot be loaded or
cannot answer for the metric is refused, and the decision says why, instead of the
service retrying an event that will fail the same way every time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from driftloop_contracts import PromotionReason, Verdict
from driftloop_learn import (
    NEEDS_PROBA,
    Dataset,
    GateResult,
    Model,
    Scored,
    Test,
    compare,
    first_model,
    load,
)
from driftloop_spec import ExperimentSpec

NO_TEST = "none"


@dataclass(frozen=True)
class Policy:
    """The spec's promotion rules, as the gate needs them."""

    metric: str
    test: Test
    alpha: float
    min_gain: float
    threshold: float | None
    approval: bool
    seed: int

    @classmethod
    def of(cls, spec: ExperimentSpec) -> Policy:
        return cls(
            metric=spec.objective.metric,
            test=spec.promotion_test,
            alpha=spec.promotion.alpha,
            min_gain=spec.promotion.min_gain,
            threshold=spec.promotion.first_model_threshold,
            approval=spec.promotion.mode == "approval",
            seed=spec.seed,
        )


@dataclass(frozen=True)
class Artifact:
    """A model's pickled bytes as read from the store (None: missing) and their hash."""

    sha256: str
    data: bytes | None


@dataclass(frozen=True)
class Judgement:
    verdict: Verdict
    result: GateResult
    reason: str
    # How the candidate was judged: FIRST_MODEL, GATE or RECURRING; APPROVAL if a person
    # later approves it.
    promotion: PromotionReason
    # Whether the holdout was looked at; a refused model was never scored on it.
    looked: bool
    # Something a person should fix: a model refused, a holdout that could not be scored.
    failed: bool = False


class Refused(Exception):
    """A model that cannot take part: its artifact is missing, altered or unusable."""


def judge(
    policy: Policy,
    rows: Dataset,
    candidate: Artifact,
    champion: Artifact | None,
    *,
    pinned: str | None = None,
    recurring: bool = False,
    score: float | None = None,
) -> Judgement:
    """The verdict on ``candidate`` against ``champion`` (None: the stream's first model).

    A pinned stream gets nothing promoted over its pin, but the gate still runs, so the
    decision records whether the candidate would have passed. ``score`` (the candidate's
    validation score) is recorded if the candidate cannot be scored on ``rows``.
    """
    how = promotion_reason(first=champion is None, recurring=recurring)
    try:
        scored = _scored(_load(candidate, "candidate"), rows, policy.metric, "candidate")
        if champion is None:
            result = first_model(policy.metric, rows.y, scored, policy.threshold)
        else:
            held = _scored(_load(champion, "champion"), rows, policy.metric, "champion")
            result = compare(
                policy.metric,
                rows.y,
                scored,
                held,
                test=policy.test,
                alpha=policy.alpha,
                min_gain=policy.min_gain,
                seed=policy.seed,
            )
    except Refused as exc:
        return refused(policy, str(exc), how, score)
    except ValueError as exc:  # e.g. roc_auc on a holdout that holds one class
        return refused(policy, f"the holdout could not be scored: {exc}", how, score)
    numbers = (result.candidate_score, result.champion_score, result.statistic, result.p_value)
    if any(x is not None and not math.isfinite(x) for x in numbers):
        return refused(policy, f"the holdout gave no finite score: {result.reason}", how, score)
    if not result.passed:
        return Judgement(Verdict.REJECT, result, result.reason, how, looked=True)
    if pinned is not None:
        reason = f"{pinned}; the gate passed: {result.reason}"
        return Judgement(Verdict.REJECT, result, reason, how, looked=True)
    verdict = Verdict.AWAIT_APPROVAL if policy.approval else Verdict.PROMOTE
    return Judgement(verdict, result, result.reason, how, looked=True)


def promotion_reason(*, first: bool, recurring: bool) -> PromotionReason:
    if recurring:
        return PromotionReason.RECURRING
    return PromotionReason.FIRST_MODEL if first else PromotionReason.GATE


def refused(
    policy: Policy,
    reason: str,
    how: PromotionReason,
    score: float | None = None,
    *,
    failed: bool = True,
) -> Judgement:
    """A reject made without scoring: ``score`` is what the decision records instead
    (the trial's validation score), since the column and the event need a number."""
    result = GateResult(False, policy.metric, NO_TEST, score or 0.0, None, None, None, reason)
    return Judgement(Verdict.REJECT, result, reason, how, looked=False, failed=failed)


def _load(artifact: Artifact, role: str) -> Model:
    if artifact.data is None:
        raise Refused(f"{role} artifact {artifact.sha256[:12]} is missing from the store")
    try:
        return load(artifact.data, artifact.sha256)
    except Exception as exc:  # pickle can raise anything; the model is unusable either way
        raise Refused(f"{role} refused: {exc}") from exc


def _scored(model: Model, rows: Dataset, metric: str, role: str) -> Scored:
    try:
        predictions = model.predict(rows.X)
        proba = model.predict_proba(rows.X) if metric in NEEDS_PROBA else None
    except Exception as exc:  # a model that cannot answer these rows cannot be judged
        raise Refused(f"{role} could not predict the holdout: {exc}") from exc
    if metric in NEEDS_PROBA and proba is None:
        raise Refused(f"{role} ({model.family}) gives no probabilities, and {metric} needs them")
    return Scored(predictions, proba)
