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
from ._metrics import MINIMISED, better, gain, score
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
    idx = rng.integers(0, n, (resamples, n))
    fast = _resampled(metric, y, candidate, champion, idx)
    if fast is not None:
        a, b = fast
        wins = b - a if metric in MINIMISED else a - b
        not_better = int(np.count_nonzero(wins <= 0))
    else:  # roc_auc is no sum over rows: scored per resample
        not_better = 0
        for row in idx:
            ys = [y[i] for i in row]
            a_ = score(
                metric, ys, [candidate.predictions[i] for i in row], _pick(candidate.proba, row)
            )
            b_ = score(
                metric, ys, [champion.predictions[i] for i in row], _pick(champion.proba, row)
            )
            not_better += gain(metric, a_, b_) <= 0
    # The +1s keep p above zero: a finite resample cannot prove a certainty.
    return (not_better + 1) / (resamples + 1)


def _resampled(
    metric: str, y: Sequence[Value], candidate: Scored, champion: Scored, idx: np.ndarray
) -> tuple[np.ndarray, np.ndarray] | None:
    """Both models' scores on every resample at once, for metrics built from per-row terms."""
    if metric == "accuracy":
        per_row = [
            np.array([p == t for p, t in zip(s.predictions, y, strict=True)], dtype=float)
            for s in (candidate, champion)
        ]
        return per_row[0][idx].mean(axis=1), per_row[1][idx].mean(axis=1)
    if metric == "f1":
        return _f1(y, candidate, idx), _f1(y, champion, idx)
    if metric == "log_loss":
        if candidate.proba is None or champion.proba is None:
            return None
        eps = 1e-15
        per_row = [
            -np.log(np.clip([p.get(t, 0.0) for p, t in zip(s.proba, y, strict=True)], eps, 1))
            for s in (candidate, champion)
            if s.proba is not None
        ]
        return per_row[0][idx].mean(axis=1), per_row[1][idx].mean(axis=1)
    if metric not in ("mae", "rmse", "r2"):
        return None
    truth = np.array(y, dtype=float)
    errors = [np.array(s.predictions, dtype=float) - truth for s in (candidate, champion)]
    if metric == "mae":
        return np.abs(errors[0])[idx].mean(axis=1), np.abs(errors[1])[idx].mean(axis=1)
    squared = [(e**2)[idx].mean(axis=1) for e in errors]
    if metric == "rmse":
        return np.sqrt(squared[0]), np.sqrt(squared[1])
    total = truth[idx].var(axis=1)
    total[total == 0] = np.nan  # r2 is undefined on a constant resample: counts as no win
    return 1 - squared[0] / total, 1 - squared[1] / total


def _f1(y: Sequence[Value], scored: Scored, idx: np.ndarray) -> np.ndarray:
    """F1 as ``score`` defines it (binary on 0/1 labels, else macro over the labels seen),
    on every resample, from per-row true/false positive and false negative counts."""
    truth, pred = np.array(y, dtype=object), np.array(scored.predictions, dtype=object)
    labels = set(y) | set(scored.predictions)
    binary = len(labels) <= 2 and set(y) <= {0, 1}
    per_class = []
    for label in [1] if binary else sorted(labels, key=str):
        tp = ((pred == label) & (truth == label)).astype(float)[idx].sum(axis=1)
        fp = ((pred == label) & (truth != label)).astype(float)[idx].sum(axis=1)
        fn = ((pred != label) & (truth == label)).astype(float)[idx].sum(axis=1)
        denominator = 2 * tp + fp + fn
        per_class.append(
            np.divide(2 * tp, denominator, out=np.zeros_like(tp), where=denominator > 0)
        )
    return np.mean(per_class, axis=0)  # type: ignore[no-any-return]


def _pick(proba: Sequence[Proba] | None, idx: np.ndarray) -> list[Proba] | None:
    return None if proba is None else [proba[i] for i in idx]
