"""What serving counts, in Prometheus' text format at ``/metrics``.

Each app has its own registry (tests run several apps in one process). What every
request counts (requests, latency, predictions) is kept in plain numbers and turned into
metrics when scraped (``Tallies``, a custom collector): a prometheus-client update takes a
lock, and the three a prediction made cost it 1.6 us here, plain numbers 0.4. Everything
else is counted rarely and uses prometheus-client's metrics directly.
"""

from __future__ import annotations

import itertools
from bisect import bisect_left
from collections import Counter as Tally
from collections import defaultdict
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from driftloop_learn import Value

# Prediction latencies are sub-millisecond when all is well: fine buckets at the low end.
LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.125, 0.25, 0.5, 1.0)


class Tallies(Collector):
    """Requests by route and status, their latency by route, predictions by stream,
    version and class: counted on the event loop, collected when ``/metrics`` is read
    (on the same loop, so never halfway through an update)."""

    def __init__(self) -> None:
        self.requests: Tally[tuple[str, str]] = Tally()
        # Per route: how many fell in each bucket (the last one +Inf), and their sum.
        self.latency: dict[str, list[int]] = {}
        self.latency_sum: defaultdict[str, float] = defaultdict(float)
        self.predictions: Tally[tuple[str, str, str]] = Tally()

    def observe(self, route: str, status: int, seconds: float) -> None:
        self.requests[route, str(status)] += 1
        counts = self.latency.get(route)
        if counts is None:
            counts = self.latency[route] = [0] * (len(LATENCY_BUCKETS) + 1)
        counts[bisect_left(LATENCY_BUCKETS, seconds)] += 1
        self.latency_sum[route] += seconds

    def collect(self) -> Iterator[Metric]:
        requests = CounterMetricFamily(
            "driftloop_serving_requests", "HTTP requests answered.", labels=["route", "status"]
        )
        for labels, count in self.requests.items():
            requests.add_metric(labels, count)
        latency = HistogramMetricFamily(
            "driftloop_serving_request_seconds",
            "Time to answer an HTTP request.",
            labels=["route"],
        )
        bounds = [*map(str, LATENCY_BUCKETS), "+Inf"]
        for route, counts in self.latency.items():
            cumulative = zip(bounds, itertools.accumulate(counts), strict=True)
            latency.add_metric([route], list(cumulative), self.latency_sum[route])
        predictions = CounterMetricFamily(
            "driftloop_serving_predictions",
            "Predictions made, by predicted class ('value' for regression).",
            labels=["stream", "model_version", "prediction"],
        )
        for kind, count in self.predictions.items():
            predictions.add_metric(kind, count)
        yield from (requests, latency, predictions)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.tallies = Tallies()
        r.register(self.tallies)
        self.batch_rows = Histogram(
            "driftloop_serving_model_batch_rows",
            "Rows per model call: concurrent requests are scored together.",
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 1024, 4096),
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

    def observe_request(self, route: str, status: int, seconds: float) -> None:
        self.tallies.observe(route, status, seconds)

    def count_predictions(self, stream: str, version: int, predictions: list[Value]) -> None:
        tally = self.tallies.predictions
        for prediction in predictions:
            label = "value" if type(prediction) is float else _label(prediction)
            tally[stream, str(version), label] += 1

    def render(self) -> bytes:
        return generate_latest(self.registry)


def _label(value: Value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)[:64]
