"""The Kafka producer of the prediction log: whole batches, on the partition their key picks.

Its own aiokafka producer rather than the FastStream broker's: publishing through
FastStream costs about 45 us a message here, an aiokafka batch about 6, and the log
sends one message per prediction. The partition is the one aiokafka's default
partitioner gives the key, as a keyed ``send`` would, so a stream's predictions share a
partition number with its other events (drift reads them side by side).
"""

from __future__ import annotations

import asyncio

from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import DefaultPartitioner

HEADERS = [("content-type", b"application/json")]
BATCH_BYTES = 512 * 1024  # under Kafka's default limit on a record batch (1 MiB)


class KafkaSink:
    def __init__(self, bootstrap_servers: str, client_id: str) -> None:
        self._bootstrap_servers = bootstrap_servers
        self._client_id = client_id
        self._producer: AIOKafkaProducer | None = None
        self._partitioner = DefaultPartitioner()

    async def start(self) -> None:
        producer = AIOKafkaProducer(
            bootstrap_servers=self._bootstrap_servers,
            client_id=self._client_id,
            linger_ms=5,
            # A whole batch of logs (500 of about 400 bytes) in one Kafka batch, so in one
            # produce request: at aiokafka's 16 KiB, 500 logs went out in 10 requests, one
            # after the other, each costing what 30 logs do to encode and acknowledge.
            max_batch_size=BATCH_BYTES,
        )
        await producer.start()
        self._producer = producer

    async def stop(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None

    async def __call__(self, topic: str, key: bytes, values: list[bytes]) -> None:
        producer = self._producer
        if producer is None:
            raise RuntimeError("the prediction log producer is not started")
        partitions = sorted(await producer.partitions_for(topic))
        partition = self._partitioner(key, partitions, partitions)
        sent = []
        batch = producer.create_batch()
        for value in values:
            if batch.append(key=key, value=value, timestamp=None, headers=HEADERS) is None:
                sent.append(await producer.send_batch(batch, topic, partition=partition))
                batch = producer.create_batch()
                if batch.append(key=key, value=value, timestamp=None, headers=HEADERS) is None:
                    raise ValueError(f"a prediction log of {len(value)} bytes exceeds a batch")
        if batch.record_count():
            sent.append(await producer.send_batch(batch, topic, partition=partition))
        await asyncio.gather(*sent)
