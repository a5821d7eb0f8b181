"""Topics and their partition counts: partitions are how driftloop scales past one process."""

from __future__ import annotations

import asyncio

from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from driftloop_contracts import (
    TOPICS,
    FeedbackReceived,
    PredictionLogged,
    Record,
    RecordsIngested,
    TrialRequested,
)

# High-volume topics, and the one training replicas share, get more partitions.
WIDE = {
    Record.topic,
    RecordsIngested.topic,
    PredictionLogged.topic,
    FeedbackReceived.topic,
    TrialRequested.topic,
}


def partitions(topic: str, wide: int = 6, narrow: int = 3) -> int:
    return wide if topic in WIDE else narrow


async def ensure_topics(
    bootstrap_servers: str, replication: int = 1, timeout: float = 30.0
) -> list[str]:
    """Create every missing driftloop topic and return those; existing ones are left as is."""
    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap_servers, request_timeout_ms=int(timeout * 1000)
    )
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [t for t in TOPICS if t not in existing]
        if missing:
            await admin.create_topics(
                [
                    NewTopic(t, num_partitions=partitions(t), replication_factor=replication)
                    for t in missing
                ]
            )
        return missing
    finally:
        await admin.close()


def ensure_topics_sync(bootstrap_servers: str) -> list[str]:
    return asyncio.run(ensure_topics(bootstrap_servers))
