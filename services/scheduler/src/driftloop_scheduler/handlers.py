"""Kafka wiring of the scheduler: triggers, controls and trial outcomes in; experiments
and trial requests out, through the outbox.

One consumer reads the five topics, in batches, one message at a time
(``driftloop_runtime.consume_batches``), so one experiment's events are never handled by
two handlers of this process at once. Each event's effects commit with a note that it
was handled, so one delivered again (its batch read again after a failure) is skipped.
"""

from __future__ import annotations

from typing import Any

from faststream.kafka import KafkaRouter

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
from driftloop_runtime import Outbox, Resources, consume_batches, publisher

from .service import Scheduler
from .settings import Settings

SERVICE = "scheduler"

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
    consume_batches(
        router,
        CONSUMED,
        scheduler.handle,
        group_id=resources.settings.group_id,
        max_records=100,
        title=f"{SERVICE}:on_triggers_controls_trials",
    )
    return router
