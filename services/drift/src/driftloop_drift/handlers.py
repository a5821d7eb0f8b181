"""Kafka wiring of the drift service: batches, predictions and feedback in; alarms out.

One consumer reads the three topics, in batches, and handles their messages one at a
time: a consumer group settles once instead of three times at every start, and the
stream monitors are never fed by two handlers at once. Order matters to a detector;
ingestion keys ``RecordsIngested`` by stream, so one stream's batches share a partition
and arrive in order, and each batch's rows are read in arrival order.

At least once: offsets are committed after a Kafka batch is handled, and a Kafka batch
whose handling raised (the store was unreachable) is read again after a pause; events
already fed are remembered by id and skipped. A message that is not a valid event, or an
event whose values the store refuses, is logged and skipped, so it cannot stall the stream.

Labels that arrive as feedback are also stored (the ``labels`` table) for experiments to
train on: drift already reads every one of them, so no other consumer group is needed.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Annotated

from aiokafka.coordinator.assignors.range import RangePartitionAssignor
from faststream.kafka import KafkaRouter
from faststream.middlewares import AckPolicy
from pydantic import SkipValidation

from driftloop_contracts import (
    DriftDetected,
    Event,
    FeedbackReceived,
    PredictionLogged,
    RecordsIngested,
)
from driftloop_runtime import (
    Message,
    Resources,
    as_raw,
    batch_schema,
    parse_event,
    publisher,
    unless_refused,
)

from .service import Drift
from .settings import Settings

SERVICE = "drift"
RETRY_PAUSE = 1.0  # seconds before a Kafka batch that failed is read again
logger = logging.getLogger("driftloop.drift")

CONSUMED: dict[str, type[Event]] = {
    event.topic: event for event in (RecordsIngested, PredictionLogged, FeedbackReceived)
}
# Parsed by topic here, so a malformed message is skipped instead of failing the batch.
Delivered = Annotated[
    list[Message],
    SkipValidation,
    batch_schema(*CONSUMED.values()),
]


def create_router(resources: Resources[Settings], drift: Drift | None = None) -> KafkaRouter:
    drift = drift or Drift(resources.settings)
    drift.bind(resources)
    router = KafkaRouter()
    to_drift_detected = publisher(router, DriftDetected, SERVICE)

    # A new group starts from the oldest retained message: a detector that skipped
    # records would misjudge the ones after them. Range assignment gives each replica the
    # same partition numbers of all three topics, so with every one keyed by stream (and
    # partitioned alike) one replica sees all of a stream: its batches, predictions, labels.
    @router.subscriber(
        *CONSUMED,
        group_id=resources.settings.group_id,
        partition_assignment_strategy=(RangePartitionAssignor,),
        batch=True,
        max_records=500,
        auto_offset_reset="earliest",
        ack_policy=AckPolicy.NACK_ON_ERROR,
        decoder=as_raw,
        title=f"{SERVICE}:on_ingested_predictions_feedback",
    )
    async def on_ingested_predictions_feedback(messages: Delivered) -> None:
        try:
            events = [(m, e) for m in messages if (e := parse_event(CONSUMED, m)) is not None]
            await drift.save_labels([e for _, e in events if isinstance(e, FeedbackReceived)])
            for message, event in events:
                alarms: list[DriftDetected] = []
                with unless_refused(message, event):
                    alarms = await drift.handle(event)
                for found in alarms:
                    await to_drift_detected.publish(found, key=found.stream.encode())
        except Exception:
            await asyncio.sleep(RETRY_PAUSE)  # an outage must not spin the consumer
            raise

    return router
