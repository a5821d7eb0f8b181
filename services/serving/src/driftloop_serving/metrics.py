"""What serving counts, in Prometheus' text format at ``/metrics``.

Each app has its own registry (tests run several apps in one process). Label children
are looked up once and kept, since ``labels()`` is too slow to call per request.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from driftloop_learn import Value

# Prediction latencies are sub-millisecond when all is well: fine buckets at the low end.
LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.125, 0.25, 0.5, 1.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "driftloop_serving_requests", "HTTP requests answered.", ["route", "status"], registry=r
        )
        self.latency = Histogram(
            "driftloop_serving_request_seconds",
            "Time to answer an HTTP request.",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.batch_rows = Histogram(
            "driftloop_serving_model_batch_rows",
            "Rows per model call: concurrent requests are scored together.",
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 1024, 4096),
            registry=r,
        )
        self.predictions = Counter(
            "driftloop_serving_predictions",
            "Predictions made, by predicted class ('value' for regression).",
            ["stream", "model_version", "prediction"],
            registry=r,
        )
        self.model_version = Gauge(
            "driftloop_serving_model_version",
            "Version of the serving model.",
            ["stream"],
            registry=r,
        )
        self.swaps = Counter(
            "driftloop_serving_model_swaps", "Models swapped in.", ["stream", "reason"], registry=r
        )
        self.load_failures = Counter(
            "driftloop_serving_model_load_failures",
            "Models refused or not found; the previous model kept serving.",
            ["stream", "reason"],
            registry=r,
        )
        self.log_sent = Counter(
            "driftloop_serving_prediction_log_sent", "Prediction logs published.", registry=r
        )
        self.log_failed = Counter(
            "driftloop_serving_prediction_log_failed",
            "Prediction logs not sent: Kafka refused them, or the queue was full.",
            ["reason"],
            registry=r,
        )
        self.log_queued = Gauge(
            "driftloop_serving_prediction_log_queued", "Prediction logs waiting.", registry=r
        )
        self.feedback = Counter(
            "driftloop_serving_feedback", "Labels received.", ["stream"], registry=r
        )
        self.learned = Counter(
            "driftloop_serving_online_learned",
            "Labels an online model learned in serving.",
            ["stream"],
            registry=r,
        )
        self.checkpoints = Counter(
            "driftloop_serving_online_checkpoints",
            "Online model checkpoints, by outcome.",
            ["stream", "outcome"],
            registry=r,
        )
        self.admin = Counter(
            "driftloop_serving_admin_requests",
            "Admin API requests, by action and outcome.",
            ["action", "outcome"],
            registry=r,
        )
        self._children: dict[tuple[Any, ...], Any] = {}

    def observe_request(self, route: str, status: int, seconds: float) -> None:
        key = ("request", route, status)
        children = self._children.get(key)
        if children is None:
            children = self._children[key] = (
                self.requests.labels(route, str(status)),
                self.latency.labels(route),
            )
        children[0].inc()
        children[1].observe(seconds)

    def count_predictions(self, stream: str, version: int, predictions: list[Value]) -> None:
        for prediction in predictions:
            label = "value" if type(prediction) is float else _label(prediction)
            key = ("prediction", stream, version, label)
            child = self._children.get(key)
            if child is None:
                child = self._children[key] = self.predictions.labels(stream, str(version), label)
            child.inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)


def _label(value: Value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)[:64]
