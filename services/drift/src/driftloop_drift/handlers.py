"""Kafka wiring of the drift service: what it consumes and what it publishes."""

from faststream.kafka import KafkaRouter

from driftloop_contracts import DriftDetected
from driftloop_runtime import Resources, publisher

SERVICE = "drift"


def create_router(resources: Resources) -> KafkaRouter:
    router = KafkaRouter()
    publisher(router, DriftDetected, SERVICE)
    return router
