"""Kafka wiring of the evaluation service: ended experiments, approvals and rollbacks in;
decisions, approval requests and promotions out.

One consumer reads the three topics, in batches, and handles their events one at a time,
in order (``driftloop_runtime.consume_batches``): every one is keyed by its stream and
range assignment gives a replica the same partitions of all three, so one replica sees
all of a stream's events. Events already handled are skipped by id when a batch is read
again (``first_handling``, in each event's own transaction).
"""

from __future__ import annotations

from functools import partial
from typing import Any

from faststream.kafka import KafkaRouter

from driftloop_contracts import ApprovalGiven, Event, ExperimentCompleted, RollbackRequested
from driftloop_runtime import Resources, consume_batches, publisher

from .control import on_approval, on_rollback
from .decide import on_completed
from .service import PUBLISHED, Evaluation, Notes
from .settings import Settings

SERVICE = "evaluation"

CONSUMED: dict[str, type[Event]] = {
    event.topic: event for event in (ExperimentCompleted, ApprovalGiven, RollbackRequested)
}


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
    consume_batches(
        router,
        CONSUMED,
        partial(handle, evaluation),
        group_id=resources.settings.group_id,
        max_records=50,
        title=f"{SERVICE}:on_experiments_approvals_rollbacks",
        same_partitions=True,
    )
    return router
