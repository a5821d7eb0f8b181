"""Scoring predictions by the spec's objective metric."""

from __future__ import annotations

import math
from collections.abc import Sequence

from sklearn import metrics as sk

from ._data import Value
from ._model import Proba

NEEDS_PROBA = frozenset({"roc_auc", "log_loss"})
MINIMISED = frozenset({"log_loss", "mae", "rmse"})


def score(
    metric: str,
    y_true: Sequence[Value],
    y_pred: Sequence[Value],
    proba: Sequence[Proba] | None = None,
) -> float:
    if not y_true:
        raise ValueError("cannot score an empty set of rows")
    if metric == "accuracy":
        return float(sk.accuracy_score(y_true, y_pred))
    if metric == "f1":
        binary = len(set(y_true) | set(y_pred)) <= 2 and set(y_true) <= {0, 1}
        return float(sk.f1_score(y_true, y_pred, average="binary" if binary else "macro"))
    if metric in NEEDS_PROBA:
        if proba is None:
            raise ValueError(f"{metric} needs class probabilities, and this model gives none")
        classes = sorted({c for row in proba for c in row} | set(y_true), key=str)
        matrix = [[row.get(c, 0.0) for c in classes] for row in proba]
        if metric == "log_loss":
            return float(sk.log_loss(y_true, matrix, labels=classes))
        if len(classes) == 2:
            return float(sk.roc_auc_score(y_true, [row[1] for row in matrix], labels=classes))
        return float(sk.roc_auc_score(y_true, matrix, multi_class="ovr", labels=classes))
    truth = [float(v) for v in y_true]  # type: ignore[arg-type]
    pred = [float(v) for v in y_pred]  # type: ignore[arg-type]
    if metric == "mae":
        return float(sk.mean_absolute_error(truth, pred))
    if metric == "rmse":
        return math.sqrt(float(sk.mean_squared_error(truth, pred)))
    if metric == "r2":
        return float(sk.r2_score(truth, pred))
    raise ValueError(f"unknown metric {metric!r}")


def better(metric: str, a: float, b: float) -> bool:
    """Whether score ``a`` beats ``b``."""
    return a < b if metric in MINIMISED else a > b


def gain(metric: str, candidate: float, champion: float) -> float:
    """How much better ``candidate`` is, in the metric's units: positive means better."""
    return champion - candidate if metric in MINIMISED else candidate - champion
