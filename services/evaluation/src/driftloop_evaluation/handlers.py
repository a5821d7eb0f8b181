"""Kafka wiring of the evaluation service: what it consumes and what it publishes."""

from faststream.kafka import KafkaRouter

from driftloop_contracts import ApprovalRequested, ModelPromoted, PromotionDecided
from driftloop_runtime import Resources, publisher

from .settings import Settings

SERVICE = "evaluation"


def create_router(resources: Resources[Settings]) -> KafkaRouter:
    router = KafkaRouter()
    publisher(router, PromotionDecided, SERVICE)
    publisher(router, ApprovalRequested, SERVICE)
    publisher(router, ModelPromoted, SERVICE)
    return router
