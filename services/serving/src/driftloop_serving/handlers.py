"""Kafka wiring of the serving service: promotions in; predictions and feedback out.

A promotion is read from its raw bytes: one that is no valid ``ModelPromoted`` is logged
and skipped; a valid one is still checked against the store before it is obeyed
(``Serving.appoint``).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Annotated

from faststream.kafka import KafkaRouter
from pydantic import SkipValidation

from driftloop_contracts import Event, FeedbackReceived, ModelPromoted, PredictionLogged
from driftloop_runtime import Message, as_raw_one, message_schema, parse_event, publisher

from .champions import Appointment, Champions

SERVICE = "serving"
logger = logging.getLogger("driftloop.serving")

Appoint = Callable[[Appointment], Awaitable[bool]]
CONSUMED: dict[str, type[Event]] = {ModelPromoted.topic: ModelPromoted}
Delivered = Annotated[Message, SkipValidation, message_schema(ModelPromoted)]


def create_router(champions: Champions, appoint: Appoint | None = None) -> KafkaRouter:
    """The router of a replica whose ``champions`` ``appoint`` loads into (``Serving``).

    The AsyncAPI document builds the router only to describe it, without ``appoint``; a
    promotion reaching such a router is refused with an error.
    """
    router = KafkaRouter()
    publisher(router, PredictionLogged, SERVICE)
    publisher(router, FeedbackReceived, SERVICE)

    # No consumer group: every replica reads every promotion, from the start of the retained
    # log, so none published while it was starting is missed; the later appointment wins.
    @router.subscriber(
        ModelPromoted.topic,
        auto_offset_reset="earliest",
        decoder=as_raw_one,
        title=f"{SERVICE}:on_model_promoted",
    )
    async def on_model_promoted(message: Delivered) -> None:
        event = parse_event(CONSUMED, message)
        if not isinstance(event, ModelPromoted):
            return
        appointment = Appointment(
            event.stream,
            event.model_id,
            event.version,
            event.artifact_sha256,
            event.occurred_at,
            event.serving_id,
        )
        if not champions.supersedes(appointment):
            return  # replayed at start, or overtaken: a later appointment already serves
        if appoint is None:
            logger.error("no model loader: promotion of %s ignored", event.model_id)
            return
        await appoint(appointment)

    return router
