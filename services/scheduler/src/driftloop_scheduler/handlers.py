"""Kafka wiring of the scheduler: triggers, controls and trial outcomes in; experiments
and trial requests out, through the outbox.

One consumer reads the five topics, in batches, one message at a time: a consumer group
settles once instead of five times at every start (Tansu's joins are slow), and one
experiment's events are never handled by two handlers of this process at once.

At least once: offsets are committed after a Kafka batch is handled, and a batch whose
handling raised (the store was unreachable) is read again after a pause; each event's
effects commit with a note that it was handled, so a redelivered one is skipped. A
message that is not a valid event, or an event whose values the store refuses, is logged
and skipped, so it cannot stall the loop.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Annotated, Any

from faststream.kafka import KafkaRouter
from faststream.middlewares import AckPolicy
from pydantic import SkipValidation

from driftloop_contracts import (
    DriftDetected,
    Event,
    ExperimentCompleted,
    ExperimentControlRequested,
    ExperimentRequested,
    ExperimentStarted,
    TrialCompleted,
    TrialFailed,
    TrialRequested,
)
from driftloop_runtime import (
    Message,
    Outbox,
    Resources,
    as_raw,
    batch_schema,
    parse_event,
    publisher,
    unless_refused,
)

from .service import Scheduler
from .settings import Settings

SERVICE = "scheduler"
RETRY_PAUSE = 1.0  # seconds before a Kafka batch that failed is read again
logger = logging.getLogger("driftloop.scheduler")

CONSUMED: dict[str, type[Event]] = {
    event.topic: event
    for event in (
        DriftDetected,
        ExperimentRequested,
        ExperimentControlRequested,
        TrialCompleted,
        TrialFailed,
    )
}
PUBLISHED: tuple[type[Event], ...] = (ExperimentStarted, TrialRequested, ExperimentCompleted)


# Parsed by topic here, so a malformed message is skipped instead of failing the batch.
Delivered = Annotated[
    list[Message],
    SkipValidation,
    batch_schema(*CONSUMED.values()),
]


def create_router(
    resources: Resources[Settings], scheduler: Scheduler | None = None
) -> KafkaRouter:
    scheduler = scheduler or Scheduler(resources.settings)
    router = KafkaRouter()
    publishers = {event.topic: publisher(router, event, SERVICE) for event in PUBLISHED}

    async def send(topic: str, key: bytes | None, payload: dict[str, Any]) -> None:
        await publishers[topic].publish(payload, key=key)

    scheduler.bind(resources, Outbox(resources, send, tuple(publishers)))

    # A new group starts from the oldest retained message: a trigger or a trial outcome
    # published while no scheduler ran must still be acted on.
    @router.subscriber(
        *CONSUMED,
        group_id=resources.settings.group_id,
        batch=True,
        max_records=100,
        auto_offset_reset="earliest",
        ack_policy=AckPolicy.NACK_ON_ERROR,
        decoder=as_raw,
        title=f"{SERVICE}:on_triggers_controls_trials",
    )
    async def on_triggers_controls_trials(messages: Delivered) -> None:
        try:
            for message in messages:
                if (event := parse_event(CONSUMED, message)) is not None:
                    with unless_refused(message, event):
                        await scheduler.handle(event)
        except Exception:
            await asyncio.sleep(RETRY_PAUSE)  # an outage must not spin the consumer
            raise

    return router
