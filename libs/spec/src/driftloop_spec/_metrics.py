"""Objective metrics: which task each fits, which way is better, and the range it lives in."""

from __future__ import annotations

from typing import Literal, NamedTuple

Task = Literal["classification", "regression"]
Metric = Literal["accuracy", "f1", "roc_auc", "log_loss", "mae", "rmse", "r2"]
Direction = Literal["maximise", "minimise"]


class MetricInfo(NamedTuple):
    task: Task
    direction: Direction
    low: float
    high: float


_INF = float("inf")

METRICS: dict[Metric, MetricInfo] = {
    "accuracy": MetricInfo("classification", "maximise", 0.0, 1.0),
    "f1": MetricInfo("classification", "maximise", 0.0, 1.0),
    "roc_auc": MetricInfo("classification", "maximise", 0.0, 1.0),
    "log_loss": MetricInfo("classification", "minimise", 0.0, _INF),
    "mae": MetricInfo("regression", "minimise", 0.0, _INF),
    "rmse": MetricInfo("regression", "minimise", 0.0, _INF),
    "r2": MetricInfo("regression", "maximise", -_INF, 1.0),
}

# What a spec that names no objective is judged by.
DEFAULT_METRIC: dict[str, Metric] = {"classification": "accuracy", "regression": "rmse"}


def metrics_for(task: Task) -> list[Metric]:
    return [name for name, info in METRICS.items() if info.task == task]
