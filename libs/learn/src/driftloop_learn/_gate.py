"""The promotion gate: does a candidate beat the champion on the same holdout?

Both models score the same rows, so the test is paired. McNemar's exact test looks only
at the rows where the two disagree about right and wrong (one-sided: the candidate is
right more often). Other metrics are not sums over rows, so a paired bootstrap resamples
rows and asks how often the candidate fails to beat the champion. The candidate passes
when that p-value is below ``alpha`` and its gain is at least ``min_gain``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy.stats import binomtest

from ._data import Value
from ._metrics import better, gain, score
from ._model import Proba

Test = Literal["mcnemar", "paired_bootstrap"]


@dataclass(frozen=True)
class Scored:
    """One model's answers on the holdout."""

    predictions: Sequence[Value]
    proba: Sequence[Proba] | None = None


@dataclass(frozen=True)
class GateResult:
    passed: bool
    metric: str
    test: str
    candidate_score: float
    champion_score: float | None
    statistic: float | None
    p_value: float | None
    reason: str


def first_model(
    metric: str, y: Sequence[Value], candidate: Scored, threshold: float | None
) -> GateResult:
    """With no champion, a candidate need only reach the spec's absolute threshold."""
    value = score(metric, y, candidate.predictions, candidate.proba)
    passed = threshold is None or value == threshold or better(metric, value, threshold)
    reason = (
        "first model: no threshold set"
        if threshold is None
        else f"first model: {metric} {value:.4f} {'reaches' if passed else 'misses'} {threshold}"
    )
    return GateResult(passed, metric, "threshold", value, None, None, None, reason)


def compare(
    metric: str,
    y: Sequence[Value],
    candidate: Scored,
    champion: Scored,
    *,
    test: Test,
    alpha: float,
    min_gain: float,
    seed: int = 0,
    resamples: int = 1000,
) -> GateResult:
    cand = score(metric, y, candidate.predictions, candidate.proba)
    champ = score(metric, y, champion.predictions, champion.proba)
    won = gain(metric, cand, champ)
    if test == "mcnemar":
        statistic, p_value = _mcnemar(y, candidate.predictions, champion.predictions)
    else:
        statistic, p_value = won, _bootstrap(metric, y, candidate, champion, seed, resamples)
    significant = p_value < alpha
    passed = significant and won >= min_gain and won > 0
    if passed:
        reason = f"{metric} {cand:.4f} vs {champ:.4f} (+{won:.4f}), p={p_value:.4g} < {alpha}"
    elif won <= 0 or won < min_gain:
        reason = (
            f"gain {won:+.4f} below the minimum {min_gain} ({metric} {cand:.4f} vs {champ:.4f})"
        )
    else:
        reason = f"not significant: p={p_value:.4g} >= {alpha} ({metric} {cand:.4f} vs {champ:.4f})"
    return GateResult(passed, metric, test, cand, champ, statistic, p_value, reason)


def _mcnemar(
    y: Sequence[Value], candidate: Sequence[Value], champion: Sequence[Value]
) -> tuple[float, float]:
    only_candidate = sum(1 for t, a, b in zip(y, candidate, champion, strict=True) if a == t != b)
    only_champion = sum(1 for t, a, b in zip(y, candidate, champion, strict=True) if b == t != a)
    n = only_candidate + only_champion
    if n == 0:
        return 0.0, 1.0
    result = binomtest(only_candidate, n, 0.5, alternative="greater")
    return float(only_candidate - only_champion), float(result.pvalue)


def _bootstrap(
    metric: str,
    y: Sequence[Value],
    candidate: Scored,
    champion: Scored,
    seed: int,
    resamples: int,
) -> float:
    rng = np.random.default_rng(seed)
    n = len(y)
    not_better = 0
    for _ in range(resamples):
        idx = rng.integers(0, n, n)
        ys = [y[i] for i in idx]
        a = score(metric, ys, [candidate.predictions[i] for i in idx], _pick(candidate.proba, idx))
        b = score(metric, ys, [champion.predictions[i] for i in idx], _pick(champion.proba, idx))
        not_better += gain(metric, a, b) <= 0
    # The +1s keep p above zero: a finite resample cannot prove a certainty.
    return (not_better + 1) / (resamples + 1)


def _pick(proba: Sequence[Proba] | None, idx: np.ndarray) -> list[Proba] | None:
    return None if proba is None else [proba[i] for i in idx]
