"""Serving's per-request tallies read as prometheus-client's own metrics would."""

from __future__ import annotations

import random

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from driftloop_learn import Value
from driftloop_serving.metrics import LATENCY_BUCKETS, Metrics


def samples(text: bytes, prefix: str) -> list[str]:
    return sorted(
        line
        for line in text.decode().splitlines()
        if line.startswith(prefix) and "_created" not in line
    )


def test_tallies_expose_what_prometheus_client_metrics_would() -> None:
    rng = random.Random(4)
    ours = Metrics()
    registry = CollectorRegistry()
    requests = Counter("driftloop_serving_requests", "x", ["route", "status"], registry=registry)
    latency = Histogram(
        "driftloop_serving_request_seconds",
        "x",
        ["route"],
        buckets=LATENCY_BUCKETS,
        registry=registry,
    )
    predictions = Counter(
        "driftloop_serving_predictions",
        "x",
        ["stream", "model_version", "prediction"],
        registry=registry,
    )
    # Values on the bucket bounds too: a bound counts in its own bucket ("le").
    seconds = [*LATENCY_BUCKETS, 0.0, 3.0, *(rng.expovariate(500) for _ in range(500))]
    for i, value in enumerate(seconds):
        route, status = rng.choice(["/predict", "/feedback"]), rng.choice([200, 422, 413])
        ours.observe_request(route, status, value)
        requests.labels(route, str(status)).inc()
        latency.labels(route).observe(value)
        kinds: list[tuple[Value, str]] = [(i % 3, str(i % 3)), (True, "true"), ("red", "red")]
        made, label = [*kinds, (2.5, "value")][i % 4]
        ours.count_predictions("orders", 2, [made])
        predictions.labels("orders", "2", label).inc()

    expected, found = generate_latest(registry), ours.render()
    for name in ("requests_total", "request_seconds", "predictions_total"):
        prefix = f"driftloop_serving_{name}"
        assert samples(found, prefix) == samples(expected, prefix)
    assert len(samples(found, "driftloop_serving_request_seconds_bucket")) == 2 * 13
