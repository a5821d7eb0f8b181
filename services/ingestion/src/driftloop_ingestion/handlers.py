"""Kafka wiring of the ingestion service: what it consumes and what it publishes."""

from faststream.kafka import KafkaRouter

from driftloop_contracts import RecordRejected, RecordsIngested
from driftloop_runtime import Resources, publisher

SERVICE = "ingestion"


def create_router(resources: Resources) -> KafkaRouter:
    router = KafkaRouter()
    publisher(router, RecordsIngested, SERVICE)
    publisher(router, RecordRejected, SERVICE)
    return router
