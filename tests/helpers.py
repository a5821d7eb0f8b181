"""Test helpers: a real uvicorn server on a free port, and polling."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import uvicorn
from aiokafka import AIOKafkaConsumer, TopicPartition

from driftloop.embedded import free_port


@contextlib.asynccontextmanager
async def running_server(app: Any) -> AsyncIterator[str]:
    """Serve ``app`` with a real uvicorn on a free port; yield its base URL."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    task = asyncio.create_task(server.serve())
    try:
        await eventually(lambda: _started(server), timeout=30, what="uvicorn to start")
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


async def _started(server: uvicorn.Server) -> bool:
    return server.started


async def eventually(
    check: Callable[[], Awaitable[Any]], timeout: float = 20.0, what: str = "condition"
) -> Any:
    """Poll ``check`` until it returns a truthy value; fail naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.1)


async def read_topic(bootstrap: str, topic: str) -> list[tuple[bytes | None, bytes]]:
    """Every (key, value) now in ``topic``, read from the beginning without a consumer group."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    try:
        await consumer.topics()  # fetches metadata, so the partitions are known
        parts = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or []]
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        ends = await consumer.end_offsets(parts)
        seen: list[tuple[bytes | None, bytes]] = []
        for part in parts:
            while await consumer.position(part) < ends[part]:
                batch = await consumer.getmany(part, timeout_ms=1000)
                seen += [(m.key, m.value) for msgs in batch.values() for m in msgs if m.value]
        return seen
    finally:
        await consumer.stop()
