"""The registered streams' schemas, cached for a short while and re-read on a miss."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping

from .validation import StreamSchema

Load = Callable[[], Awaitable[Mapping[str, StreamSchema]]]


class SchemaCache:
    """Schemas younger than ``ttl`` seconds are served from memory.

    A stream registered a moment ago must be accepted at once, so an unknown name calls
    :meth:`refresh` rather than waiting out the TTL; the TTL only bounds how long a
    changed schema goes unnoticed.
    """

    def __init__(self, load: Load, ttl: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._load = load
        self._ttl = ttl
        self._clock = clock
        self._schemas: Mapping[str, StreamSchema] = {}
        self._loaded_at: float | None = None

    async def get(self) -> Mapping[str, StreamSchema]:
        if self._loaded_at is None or self._clock() - self._loaded_at >= self._ttl:
            return await self.refresh()
        return self._schemas

    async def refresh(self) -> Mapping[str, StreamSchema]:
        loaded_at = self._clock()
        self._schemas = await self._load()
        self._loaded_at = loaded_at
        return self._schemas
