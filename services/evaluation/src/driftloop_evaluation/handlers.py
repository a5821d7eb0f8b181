"""Kafka wiring of the evaluation service: ended experiments, approvals and rollbacks in;
decisions, approval requests and promotions out.

One consumer reads the three topics (a consumer group settles once instead of three
times), in batches, and handles their events one at a time, in order: every one is keyed
by its stream and range assignment gives a replica the same partitions of all three, so
one replica sees all of a stream's events.

At least once: offsets are committed after a batch is handled; a batch whose handling
raised (the store was unreachable) is read again after a pause, and events already
handled are skipped by id (``first_handling``, in each event's own transaction). A
message that is not a valid event, or an event whose values the store refuses, is logged
and skipped, so it cannot stall the stream.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Annotated, Any

from aiokafka.coordinator.assignors.range import RangePartitionAssignor
from faststream.kafka import KafkaRouter
from faststream.middlewares import AckPolicy
from pydantic import SkipValidation

from driftloop_contracts import ApprovalGiven, Event, ExperimentCompleted, RollbackRequested
from driftloop_runtime import (
    Message,
    Resources,
    as_raw,
    batch_schema,
    parse_event,
    publisher,
    unless_refused,
)

from .control import on_approval, on_rollback
from .decide import on_completed
from .service import PUBLISHED, Evaluation, Notes
from .settings import Settings

SERVICE = "evaluation"
RETRY_PAUSE = 1.0  # seconds before a batch that failed is read again
logger = logging.getLogger("driftloop.evaluation")

CONSUMED: dict[str, type[Event]] = {
    event.topic: event for event in (ExperimentCompleted, ApprovalGiven, RollbackRequested)
}


Delivered = Annotated[
    list[Message],
    SkipValidation,
    batch_schema(*CONSUMED.values()),
]


async def handle(evaluation: Evaluation, event: Event) -> None:
    """Act on one event, once however often it is delivered; then send its alerts."""
    notes = Notes()
    match event:
        case ExperimentCompleted():
            await on_completed(evaluation, event, notes)
        case ApprovalGiven():
            await on_approval(evaluation, event, notes)
        case RollbackRequested():
            await on_rollback(evaluation, event, notes)
    evaluation.send(notes)


def create_router(
    resources: Resources[Settings], evaluation: Evaluation | None = None
) -> KafkaRouter:
    evaluation = evaluation or Evaluation(resources.settings)
    router = KafkaRouter()
    to = {event.topic: publisher(router, event, SERVICE) for event in PUBLISHED}

    async def send(topic: str, key: bytes | None, payload: dict[str, Any]) -> None:
        await to[topic].publish(payload, key=key)

    evaluation.bind(resources, send)

    # A new group starts from the oldest retained event: an ended experiment nobody
    # judged yet must still be judged. Handled ones are skipped by id.
    @router.subscriber(
        *CONSUMED,
        group_id=resources.settings.group_id,
        partition_assignment_strategy=(RangePartitionAssignor,),
        batch=True,
        max_records=50,
        auto_offset_reset="earliest",
        ack_policy=AckPolicy.NACK_ON_ERROR,
        decoder=as_raw,
        title=f"{SERVICE}:on_experiments_approvals_rollbacks",
    )
    async def on_experiments_approvals_rollbacks(messages: Delivered) -> None:
        try:
            for message in messages:
                if (event := parse_event(CONSUMED, message)) is not None:
                    with unless_refused(message, event):
                        await handle(evaluation, event)
        except Exception:
            logger.exception("handling a batch failed; it is read again")
            await asyncio.sleep(RETRY_PAUSE)  # an outage must not spin the consumer
            raise

    return router
