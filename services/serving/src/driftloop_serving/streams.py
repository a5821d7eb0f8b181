"""Registered streams and their compiled validators, cached so no request waits on the store.

The whole table is re-read every ``ttl`` seconds in the background; a stream not in the
cache is looked up at once (one lookup at a time per name, and a miss is remembered for a
second, so a flood of requests for an unknown stream costs the store little).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import ValidationError

from driftloop_spec import ExperimentSpec, Task

from .store import StreamRecord
from .validation import StreamSchema, StreamValidator

logger = logging.getLogger("driftloop.serving.streams")

MISS_TTL = 1.0


class Streams:
    def __init__(
        self,
        read_all: Callable[[], Awaitable[list[StreamRecord]]],
        read_one: Callable[[str], Awaitable[StreamRecord | None]],
        max_batch: int,
    ) -> None:
        self._read_all = read_all
        self._read_one = read_one
        self._max_batch = max_batch
        self._validators: dict[str, StreamValidator] = {}
        self._specs: dict[str, tuple[dict[str, Any] | None, Task | None, bool]] = {}
        self._misses: dict[str, float] = {}
        self._lookups: dict[str, asyncio.Future[StreamValidator | None]] = {}

    def get(self, name: str) -> StreamValidator | None:
        return self._validators.get(name)

    async def find(self, name: str) -> StreamValidator | None:
        """The stream's validator, from the cache or else from the store."""
        found = self._validators.get(name)
        if found is not None:
            return found
        if time.monotonic() - self._misses.get(name, -MISS_TTL) < MISS_TTL:
            return None
        pending = self._lookups.get(name)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[StreamValidator | None] = asyncio.get_running_loop().create_future()
        self._lookups[name] = future
        try:
            record = await self._read_one(name)
            found = self._take(record) if record else None
            if found is None:
                self._misses[name] = time.monotonic()
            future.set_result(found)
            return found
        except Exception as exc:
            future.set_exception(exc)
            future.exception()  # marked as retrieved: waiters, if any, see it too
            raise
        finally:
            if not future.done():
                future.cancel()
            del self._lookups[name]

    async def refresh(self) -> None:
        records = await self._read_all()
        for record in records:
            self._take(record)
        gone = set(self._validators) - {r.name for r in records}
        for name in gone:
            del self._validators[name]
        self._misses.clear()

    async def run_refresher(self, every: float) -> None:
        while True:
            await asyncio.sleep(every)
            try:
                await self.refresh()
            except Exception:
                logger.exception("could not re-read the streams; keeping what is cached")

    def _take(self, record: StreamRecord) -> StreamValidator:
        task, online = self._spec_facts(record)
        schema = StreamSchema(record.name, dict(record.schema), record.target, task, online)
        current = self._validators.get(record.name)
        if current is None or current.schema != schema:
            current = self._validators[record.name] = StreamValidator(schema, self._max_batch)
        return current

    def _spec_facts(self, record: StreamRecord) -> tuple[Task | None, bool]:
        """The task and the progressive-learning switch, from the spec when there is one;
        a spec is validated again only when it changed."""
        cached = self._specs.get(record.name)
        if cached is not None and cached[0] == record.spec:
            return cached[1], cached[2]
        task: Task | None = None
        online = False
        if record.spec is not None:
            try:
                spec = ExperimentSpec.model_validate(record.spec)
                task, online = spec.task, spec.online
            except ValidationError as exc:
                logger.error("stream %s has a spec this version cannot read: %s", record.name, exc)
        self._specs[record.name] = (record.spec, task, online)
        return task, online
