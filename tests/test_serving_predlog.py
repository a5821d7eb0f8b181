"""The prediction log: events as the contract defines them, sent per stream in batches, and
nothing lost without a count."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any

from driftloop_contracts import PredictionLogged
from driftloop_serving.ids import uuid4s
from driftloop_serving.metrics import Metrics
from driftloop_serving.predlog import Logged, PredictionLog
from driftloop_serving.sink import KafkaSink

from .helpers import eventually, read_topic

AT = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def logged(stream: str, i: int) -> Logged:
    return Logged(stream, f"r{i}", "m-1", 3, {"x": 0.5, "c": "a", "n": i}, i % 2, 0.75, AT)


def failed(metrics: Metrics, reason: str) -> float:
    value = metrics.registry.get_sample_value(
        "driftloop_serving_prediction_log_failed_total", {"reason": reason}
    )
    return value or 0.0


def sent(metrics: Metrics) -> float:
    return metrics.registry.get_sample_value("driftloop_serving_prediction_log_sent_total") or 0.0


class Kafka:
    """Records what it is given; refuses the first ``refuse`` batches."""

    def __init__(self, refuse: int = 0) -> None:
        self.batches: list[tuple[str, bytes, list[bytes]]] = []
        self.refuse = refuse

    async def __call__(self, topic: str, key: bytes, values: list[bytes]) -> None:
        if self.refuse:
            self.refuse -= 1
            raise ConnectionError("broker unreachable")
        self.batches.append((topic, key, values))


def test_the_encoded_event_is_the_contract_s_prediction_logged() -> None:
    [event_id] = uuid4s(1)
    encoded = logged("orders", 7).encode(event_id)
    event = PredictionLogged.parse(encoded)
    assert str(event.event_id) == event_id
    assert event.model_dump(exclude={"event_id"}) == {
        "occurred_at": AT,
        "causation_id": None,
        "schema_version": 1,
        "stream": "orders",
        "record_id": "r7",
        "model_id": "m-1",
        "model_version": 3,
        "features": {"x": 0.5, "c": "a", "n": 7},
        "prediction": 1,
        "probability": 0.75,
    }
    # Byte for byte what the model itself would write, key order aside.
    assert json.loads(encoded) == json.loads(event.model_dump_json())


async def test_predictions_go_out_per_stream_keyed_by_it() -> None:
    kafka, metrics = Kafka(), Metrics()
    log = PredictionLog(kafka, metrics, capacity=100, batch_size=50)
    log.append([logged("a", 1), logged("b", 2), logged("a", 3)])
    await log.flush()
    assert [(topic, key, len(values)) for topic, key, values in kafka.batches] == [
        (PredictionLogged.topic, b"a", 2),
        (PredictionLogged.topic, b"b", 1),
    ]
    assert sent(metrics) == 3


async def test_every_logged_prediction_has_an_event_id_of_its_own() -> None:
    kafka = Kafka()
    log = PredictionLog(kafka, Metrics(), capacity=1000, batch_size=500)
    log.append([logged("a", i) for i in range(500)])
    await log.flush()
    ids = [PredictionLogged.parse(v).event_id for _, _, values in kafka.batches for v in values]
    assert len(set(ids)) == 500
    assert {event_id.version for event_id in ids} == {4}


async def test_a_full_queue_counts_what_it_could_not_take() -> None:
    kafka, metrics = Kafka(), Metrics()
    log = PredictionLog(kafka, metrics, capacity=2, batch_size=50)
    log.append([logged("a", i) for i in range(5)])
    assert len(log) == 2
    assert failed(metrics, "queue_full") == 3
    await log.flush()
    assert sent(metrics) == 2


async def test_a_refused_batch_is_retried_then_counted_as_failed() -> None:
    kafka, metrics = Kafka(refuse=1), Metrics()
    log = PredictionLog(kafka, metrics, capacity=100, batch_size=50)
    log.append([logged("a", 1)])
    await log.flush()
    assert sent(metrics) == 1 and failed(metrics, "kafka") == 0

    kafka.refuse = 10
    log.append([logged("a", 2), logged("a", 3)])
    await log.flush()
    assert failed(metrics, "kafka") == 2
    assert len(kafka.batches) == 1


async def test_the_background_sender_sends_what_requests_append() -> None:
    kafka, metrics = Kafka(), Metrics()
    log = PredictionLog(kafka, metrics, capacity=100, batch_size=2)
    task = asyncio.create_task(log.run())
    try:
        log.append([logged("a", i) for i in range(5)])

        async def all_sent() -> bool:
            return sent(metrics) == 5

        await eventually(all_sent, timeout=5, what="the log to be sent")
    finally:
        task.cancel()
    assert [len(values) for _, _, values in kafka.batches] == [2, 2, 1]


async def test_logs_appended_within_the_linger_go_out_as_one_batch() -> None:
    kafka, metrics = Kafka(), Metrics()
    log = PredictionLog(kafka, metrics, capacity=100, batch_size=50, linger=0.05)
    task = asyncio.create_task(log.run())
    try:
        for i in range(5):  # one request after the other, each in its own turn of the loop
            log.append([logged("a", i)])
            await asyncio.sleep(0)

        async def all_sent() -> bool:
            return sent(metrics) == 5

        await eventually(all_sent, timeout=5, what="the log to be sent")
        log.append([logged("a", i) for i in range(5, 55)])  # a whole batch does not wait
        await asyncio.sleep(0.01)
        assert sent(metrics) == 55
    finally:
        task.cancel()
    assert [len(values) for _, _, values in kafka.batches] == [5, 50]


async def test_under_steady_load_every_batch_lingers_not_only_the_first() -> None:
    class SlowKafka(Kafka):
        async def __call__(self, topic: str, key: bytes, values: list[bytes]) -> None:
            await asyncio.sleep(0.01)  # the acknowledgement's round trip
            await super().__call__(topic, key, values)

    kafka, metrics = SlowKafka(), Metrics()
    log = PredictionLog(kafka, metrics, capacity=10_000, batch_size=500, linger=0.05)
    task = asyncio.create_task(log.run())
    try:
        for i in range(300):  # one prediction a millisecond, for 0.3 s
            log.append([logged("a", i)])
            await asyncio.sleep(0.001)

        async def all_sent() -> bool:
            return sent(metrics) == 300

        await eventually(all_sent, timeout=5, what="the log to be sent")
    finally:
        task.cancel()
    sizes = [len(values) for _, _, values in kafka.batches]
    # Each batch waited the linger: none holds only what came in during one acknowledgement.
    assert len(sizes) <= 8 and min(sizes[:-1]) >= 20, sizes


async def test_a_whole_batch_of_logs_goes_to_the_broker_as_one_kafka_batch(kafka: str) -> None:
    sink = KafkaSink(kafka, "test-predlog")
    await sink.start()
    try:
        producer = sink._producer
        assert producer is not None
        sent_batches = 0
        send_batch = producer.send_batch

        async def counted(*args: Any, **kwargs: Any) -> Any:
            nonlocal sent_batches
            sent_batches += 1
            return await send_batch(*args, **kwargs)

        producer.send_batch = counted
        key = f"s_{uuid4s(1)[0][:8]}"
        values = [logged(key, i).encode(event_id) for i, event_id in enumerate(uuid4s(500))]
        assert min(map(len, values)) > 200  # as big as real ones
        await sink(PredictionLogged.topic, key.encode(), values)
    finally:
        await sink.stop()
    assert sent_batches == 1
    found = [v for k, v in await read_topic(kafka, PredictionLogged.topic) if k == key.encode()]
    assert found == values
