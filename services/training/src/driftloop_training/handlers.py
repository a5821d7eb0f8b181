"""Kafka wiring of the training service: trial requests in; completions and failures out.

One consumer group (``driftloop-training``) reads ``driftloop.trial.requested``, whose 6
partitions the replicas share; a replica runs one trial at a time. At least once: the
subscriber uses ``NACK_ON_ERROR``, so a request's offset is committed only after its
handler returned, which is after the trial's row and its event committed (the outbox). A
handler that raises (the store is down) is nacked: the consumer seeks back and reads the
request again after a pause. A replica killed mid-trial commits nothing, so once the
broker has given up on it (the session timeout) its partitions go to the others, which
read the request again. A message that is not a valid request, or a request whose values
the store refuses, is logged and skipped, so it cannot stall its partition.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Annotated, Any

from faststream.kafka import KafkaRouter
from faststream.middlewares import AckPolicy
from pydantic import SkipValidation

from driftloop_contracts import Event, TrialCompleted, TrialFailed, TrialRequested
from driftloop_runtime import (
    Message,
    Resources,
    as_raw_one,
    message_schema,
    parse_event,
    publisher,
    unless_refused,
)

from .settings import Settings
from .worker import Trainer

SERVICE = "training"
logger = logging.getLogger("driftloop.training")

CONSUMED: dict[str, type[Event]] = {TrialRequested.topic: TrialRequested}
# Parsed in the handler: a malformed message must be skipped, not nacked forever.
Delivered = Annotated[Message, SkipValidation, message_schema(TrialRequested)]


def create_router(resources: Resources[Settings], trainer: Trainer | None = None) -> KafkaRouter:
    settings = resources.settings
    trainer = trainer or Trainer(settings)
    router = KafkaRouter()
    publishers = {
        TrialCompleted.topic: publisher(router, TrialCompleted, SERVICE),
        TrialFailed.topic: publisher(router, TrialFailed, SERVICE),
    }

    async def send(topic: str, key: bytes | None, payload: dict[str, Any]) -> None:
        await publishers[topic].publish(payload, key=key)

    trainer.bind(resources, send, tuple(publishers))

    # A new group starts from the oldest request: trials asked for before any replica
    # ran are still trials to run. max_poll_interval bounds one trial (past it the
    # replica is taken as hung and leaves the group, so the trials behind it move on).
    @router.subscriber(
        TrialRequested.topic,
        group_id=settings.group_id,
        auto_offset_reset="earliest",
        ack_policy=AckPolicy.NACK_ON_ERROR,
        session_timeout_ms=settings.kafka_session_timeout_ms,
        heartbeat_interval_ms=settings.kafka_heartbeat_interval_ms,
        max_poll_interval_ms=int(settings.max_trial_seconds * 1000),
        decoder=as_raw_one,
        title=f"{SERVICE}:on_trial_requested",
    )
    async def on_trial_requested(message: Delivered) -> None:
        request = parse_event(CONSUMED, message)
        if not isinstance(request, TrialRequested):
            return
        try:
            with unless_refused(message, request):
                await trainer.handle(request)
        except Exception:
            await asyncio.sleep(settings.retry_pause_seconds)  # an outage must not spin
            raise

    return router
