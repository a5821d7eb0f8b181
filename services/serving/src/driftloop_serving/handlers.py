"""Kafka wiring of the serving service: promotions in; predictions and feedback out."""

from __future__ import annotations

import logging

from faststream.kafka import KafkaRouter

from driftloop_contracts import FeedbackReceived, ModelPromoted, PredictionLogged
from driftloop_runtime import publisher

from .champions import Champion, Champions

SERVICE = "serving"
logger = logging.getLogger("driftloop.serving")


def create_router(champions: Champions) -> KafkaRouter:
    router = KafkaRouter()
    publisher(router, PredictionLogged, SERVICE)
    publisher(router, FeedbackReceived, SERVICE)

    # No consumer group: every replica reads every promotion, from the start of the retained
    # log, so none published while it was starting is missed; `offer` keeps the latest.
    @router.subscriber(
        ModelPromoted.topic,
        auto_offset_reset="earliest",
        title=f"{SERVICE}:on_model_promoted",
    )
    async def on_model_promoted(event: ModelPromoted) -> None:
        champion = Champion(
            event.stream,
            event.model_id,
            event.version,
            event.artifact_sha256,
            event.occurred_at,
            event.serving_id,
        )
        if champions.offer(champion):
            logger.info(
                "stream %s now served by model %s v%d", event.stream, event.model_id, event.version
            )

    return router
