"""Kafka wiring of the drift service: batches, predictions and feedback in; alarms out.

One consumer reads the three topics, in batches, and handles their messages one at a
time (``driftloop_runtime.consume_batches``), so the stream monitors are never fed by two
handlers at once. Order matters to a detector; ingestion keys ``RecordsIngested`` by
stream, so one stream's batches share a partition and arrive in order, and each batch's
rows are read in arrival order. Events already fed are remembered by id and skipped when
a batch is read again.

Labels that arrive as feedback are also stored (the ``labels`` table) for experiments to
train on: drift already reads every one of them, so no other consumer group is needed.
"""

from __future__ import annotations

from faststream.kafka import KafkaRouter

from driftloop_contracts import (
    DriftDetected,
    Event,
    FeedbackReceived,
    PredictionLogged,
    RecordsIngested,
)
from driftloop_runtime import Resources, consume_batches, publisher

from .service import Drift
from .settings import Settings

SERVICE = "drift"

CONSUMED: dict[str, type[Event]] = {
    event.topic: event for event in (RecordsIngested, PredictionLogged, FeedbackReceived)
}


def create_router(resources: Resources[Settings], drift: Drift | None = None) -> KafkaRouter:
    drift = drift or Drift(resources.settings)
    drift.bind(resources)
    router = KafkaRouter()
    to_drift_detected = publisher(router, DriftDetected, SERVICE)

    async def save_labels(events: list[Event]) -> None:
        await drift.save_labels([e for e in events if isinstance(e, FeedbackReceived)])

    async def handle(event: Event) -> None:
        for found in await drift.handle(event):
            await to_drift_detected.publish(found, key=found.stream.encode())

    # A new group starts from the oldest retained message: a detector that skipped
    # records would misjudge the ones after them. Range assignment (same_partitions) gives
    # each replica the same partition numbers of all three topics, so with every one keyed
    # by stream (and partitioned alike) one replica sees all of a stream: its batches,
    # predictions, labels.
    consume_batches(
        router,
        CONSUMED,
        handle,
        group_id=resources.settings.group_id,
        max_records=500,
        title=f"{SERVICE}:on_ingested_predictions_feedback",
        same_partitions=True,
        before=save_labels,
    )
    return router
