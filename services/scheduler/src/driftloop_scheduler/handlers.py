"""Kafka wiring of the scheduler service: what it consumes and what it publishes."""

from faststream.kafka import KafkaRouter

from driftloop_contracts import ExperimentCompleted, ExperimentStarted, TrialRequested
from driftloop_runtime import Resources, publisher

from .settings import Settings

SERVICE = "scheduler"


def create_router(resources: Resources[Settings]) -> KafkaRouter:
    router = KafkaRouter()
    publisher(router, ExperimentStarted, SERVICE)
    publisher(router, TrialRequested, SERVICE)
    publisher(router, ExperimentCompleted, SERVICE)
    return router
