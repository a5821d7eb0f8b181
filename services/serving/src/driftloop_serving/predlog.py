"""The prediction log: every prediction published as ``PredictionLogged``, off the request path.

A request only appends to a bounded queue; a background task waits ``linger`` seconds for
more to gather (unless a whole batch is waiting), encodes the events and sends each
stream's share as one Kafka batch (keyed by the stream, so on the partition a keyed
``send`` would choose), then waits for the acknowledgement. A batch Kafka refuses is
retried, then counted as failed; a full queue counts what it could not take. Nothing is
lost without a count (``driftloop_serving_prediction_log_failed_total``) and an error in
the log.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic_core import to_json

from driftloop_contracts import PredictionLogged
from driftloop_learn import Features, Value

from .ids import uuid4s
from .metrics import Metrics

logger = logging.getLogger("driftloop.serving.log")

Sink = Callable[[str, bytes, list[bytes]], Awaitable[None]]
"""Send ``(topic, key, values)`` as one batch and wait until Kafka has it."""

RETRIES = 3
_VERSION = PredictionLogged.model_fields["schema_version"].default


@dataclass(frozen=True, slots=True)
class Logged:
    stream: str
    record_id: str
    model_id: str
    model_version: int
    features: Features
    prediction: Value
    probability: float | None
    at: datetime

    def encode(self, event_id: str) -> bytes:
        """The event as ``PredictionLogged`` serialises it (a test holds the two together),
        without building the model: every field was checked on the way in."""
        event: dict[str, Any] = {
            "event_id": event_id,
            "occurred_at": self.at,
            "causation_id": None,
            "schema_version": _VERSION,
            "stream": self.stream,
            "record_id": self.record_id,
            "model_id": self.model_id,
            "model_version": self.model_version,
            "features": self.features,
            "prediction": self.prediction,
            "probability": self.probability,
        }
        return to_json(event)


class PredictionLog:
    def __init__(
        self, sink: Sink, metrics: Metrics, capacity: int, batch_size: int, linger: float = 0.0
    ) -> None:
        self._sink = sink
        self._metrics = metrics
        self._capacity = capacity
        self._batch_size = batch_size
        self._linger = linger
        self._queue: deque[Logged] = deque()
        self._ready = asyncio.Event()
        self._lost_since_warning = 0

    def __len__(self) -> int:
        return len(self._queue)

    def append(self, entries: list[Logged]) -> None:
        room = self._capacity - len(self._queue)
        if len(entries) > room:
            lost = len(entries) - max(room, 0)
            self._metrics.log_failed.labels("queue_full").inc(lost)
            if not self._lost_since_warning:
                logger.error("prediction log queue full: predictions are not being logged")
            self._lost_since_warning += lost
            entries = entries[: max(room, 0)]
        self._queue.extend(entries)
        self._ready.set()

    async def run(self) -> None:
        """Send forever; cancel to stop (then ``flush``)."""
        while True:
            await self._ready.wait()
            self._ready.clear()
            while self._queue:
                if len(self._queue) < self._batch_size:
                    # A Kafka produce request costs about what 30 logs in it do: fewer,
                    # fuller ones leave the event loop more time for requests. (Without
                    # this wait, under load, each batch would hold only what came in
                    # while Kafka acknowledged the one before.)
                    await asyncio.sleep(self._linger)
                await self._send_some()

    async def flush(self, timeout: float = 10.0) -> None:
        """Send what is queued, for up to ``timeout`` seconds; count the rest as failed."""
        try:
            async with asyncio.timeout(timeout):
                while self._queue:
                    await self._send_some()
        except TimeoutError:
            self._metrics.log_failed.labels("shutdown").inc(len(self._queue))
            logger.error("%d prediction logs not sent before shutdown", len(self._queue))
            self._queue.clear()

    async def _send_some(self) -> None:
        taken = [self._queue.popleft() for _ in range(min(self._batch_size, len(self._queue)))]
        self._metrics.log_queued.set(len(self._queue))
        if self._lost_since_warning and len(self._queue) < self._capacity // 2:
            logger.warning("prediction log recovered; %d were not logged", self._lost_since_warning)
            self._lost_since_warning = 0
        by_stream: dict[str, list[bytes]] = {}
        for entry, event_id in zip(taken, uuid4s(len(taken)), strict=True):
            by_stream.setdefault(entry.stream, []).append(entry.encode(event_id))
        for stream, values in by_stream.items():
            await self._send(stream, values)

    async def _send(self, stream: str, values: list[bytes]) -> None:
        # Event ids were fixed at encoding: a retried batch that Kafka had in part repeats
        # ids, which consumers skip.
        for attempt in range(1, RETRIES + 1):
            try:
                await self._sink(PredictionLogged.topic, stream.encode(), values)
            except Exception as exc:
                if attempt == RETRIES:
                    self._metrics.log_failed.labels("kafka").inc(len(values))
                    logger.error("%d prediction logs of %s not sent: %s", len(values), stream, exc)
                    return
                await asyncio.sleep(0.2 * 2**attempt)
            else:
                self._metrics.log_sent.inc(len(values))
                return
