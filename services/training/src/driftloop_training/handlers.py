"""Kafka wiring of the training service: what it consumes and what it publishes."""

from faststream.kafka import KafkaRouter

from driftloop_contracts import TrialCompleted, TrialFailed
from driftloop_runtime import Resources, publisher

from .settings import Settings

SERVICE = "training"


def create_router(resources: Resources[Settings]) -> KafkaRouter:
    router = KafkaRouter()
    publisher(router, TrialCompleted, SERVICE)
    publisher(router, TrialFailed, SERVICE)
    return router
