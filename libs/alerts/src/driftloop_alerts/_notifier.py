"""The notifier: takes alerts without waiting, and delivers them in the background.

Every hook URL has its own lane: a bounded queue and one worker that delivers in order,
retrying with backoff. A dead receiver therefore only ever delays its own alerts; when its
queue is full, further alerts for it are dropped (recorded as failed) instead of waiting.
Use it from the service's lifespan::

    async with Notifier(pool) as notifier:
        notifier.notify(Alert(kind="drift", stream="orders", summary="..."), hooks)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from types import TracebackType
from typing import Self

import httpx

from driftloop_store import Pool

from ._alert import Alert
from ._delivery import Delivery, Status, attempt, backoff
from ._hooks import Hook
from ._store import record

logger = logging.getLogger("driftloop_alerts")

# Rows for dropped deliveries are written by tasks; past this many unwritten (a slow
# database and a flood of drops), further drops are only logged.
_MAX_UNWRITTEN_DROPS = 1000


@dataclass
class _Lane:
    queue: asyncio.Queue[Delivery]
    worker: asyncio.Task[None] | None = None
    current: Delivery | None = None


class Notifier:
    """Delivers alerts to webhooks: signed, retried with backoff, recorded in ``alerts``.

    ``pool`` records each delivery (None: nothing recorded). ``client`` is used as given and
    left open; without one, the notifier opens its own on start and closes it on stop.
    Each attempt is cut off after ``timeout`` seconds; a delivery gives up after
    ``max_attempts``, waiting ``backoff_base * 2**n`` seconds (jittered, at most
    ``backoff_cap``) between them. ``queue_size`` bounds the alerts waiting per hook URL.
    ``stop`` waits up to ``drain_timeout`` seconds for queued deliveries to finish.
    """

    def __init__(
        self,
        pool: Pool | None = None,
        client: httpx.AsyncClient | None = None,
        *,
        timeout: float = 5.0,
        max_attempts: int = 6,
        backoff_base: float = 0.5,
        backoff_cap: float = 60.0,
        queue_size: int = 100,
        drain_timeout: float = 5.0,
    ) -> None:
        if max_attempts < 1 or queue_size < 1:
            raise ValueError("max_attempts and queue_size must be at least 1")
        self._pool = pool
        self._client = client
        self._owns_client = client is None
        self._timeout = timeout
        self._max_attempts = max_attempts
        self._backoff = (backoff_base, backoff_cap)
        self._queue_size = queue_size
        self._drain_timeout = drain_timeout
        self._lanes: dict[str, _Lane] = {}
        self._records: set[asyncio.Task[None]] = set()
        self._running = False
        self._stopped = False

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def start(self) -> None:
        if self._running:
            return
        if self._client is None:
            self._client = httpx.AsyncClient()
        self._running = True
        self._stopped = False
        for lane in self._lanes.values():
            self._start_worker(lane)

    def notify(self, alert: Alert, hooks: Iterable[Hook]) -> int:
        """Queue ``alert`` for every hook that wants its kind; return how many were queued.

        Never waits and never raises for a receiver's sake: call it from the event loop's
        thread (any handler). A URL listed twice gets the alert once.
        """
        queued = 0
        body = alert.body()
        seen: set[str] = set()
        for hook in hooks:
            if not hook.wants(alert.kind) or hook.url in seen:
                continue
            seen.add(hook.url)
            delivery = Delivery(alert, hook, body)
            if self._stopped:
                self._drop(delivery, "dropped: the notifier was stopped")
                continue
            try:
                self._lane(hook.url).queue.put_nowait(delivery)
            except asyncio.QueueFull:
                self._drop(delivery, f"dropped: {self._queue_size} alerts already queued")
                continue
            queued += 1
        return queued

    async def stop(self) -> None:
        """Let queued deliveries finish for a while, then record the rest as failed."""
        self._stopped = True
        lanes = list(self._lanes.values())
        if self._running:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._drain_timeout):
                    await asyncio.gather(*(lane.queue.join() for lane in lanes))
        workers = [lane.worker for lane in lanes if lane.worker is not None]
        for worker in workers:
            worker.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        undelivered = [delivery for lane in lanes for delivery in _leftovers(lane)]
        for delivery in undelivered:
            if delivery.status == "pending":
                delivery.status = "failed"
                delivery.last_error = "not delivered before the notifier stopped" + (
                    f" (last: {delivery.last_error})" if delivery.last_error else ""
                )
        if undelivered:
            logger.warning("%d alert deliveries unfinished at stop", len(undelivered))
        await asyncio.gather(
            *(self._record(delivery, delivery.status) for delivery in undelivered),
            *self._records,
            return_exceptions=True,
        )
        self._lanes.clear()
        self._running = False
        if self._owns_client and self._client is not None:
            await self._client.aclose()
            self._client = None

    def _lane(self, url: str) -> _Lane:
        if (lane := self._lanes.get(url)) is None:
            lane = self._lanes[url] = _Lane(asyncio.Queue(self._queue_size))
            if self._running:
                self._start_worker(lane)
        return lane

    def _start_worker(self, lane: _Lane) -> None:
        if lane.worker is None:
            lane.worker = asyncio.create_task(self._work(lane))

    async def _work(self, lane: _Lane) -> None:
        while True:
            delivery = await lane.queue.get()
            lane.current = delivery
            try:
                await self._deliver(delivery)
            except Exception:
                # A bug here must not silence every later alert for this hook.
                logger.exception("delivering alert %s failed", delivery.alert.id)
            lane.current = None
            lane.queue.task_done()

    async def _deliver(self, delivery: Delivery) -> None:
        assert self._client is not None, "workers run only between start and stop"
        await self._record(delivery, "pending")
        alert, origin = delivery.alert, delivery.hook.origin
        while True:
            outcome = await attempt(self._client, delivery, self._timeout)
            delivery.attempts += 1
            if outcome.delivered:
                delivery.status = "delivered"
                await self._record(delivery, "delivered")
                logger.info("%s alert %s delivered to %s", alert.kind, alert.id, origin)
                return
            delivery.last_error = outcome.error
            if not outcome.retry or delivery.attempts >= self._max_attempts:
                delivery.status = "failed"
                await self._record(delivery, "failed")
                logger.warning(
                    "%s alert %s to %s failed after %d attempts: %s",
                    *(alert.kind, alert.id, origin, delivery.attempts, outcome.error),
                )
                return
            await self._record(delivery, "pending")
            delay = backoff(delivery.attempts, *self._backoff, outcome.retry_after)
            logger.info(
                "%s alert %s to %s: %s; retrying in %.1fs",
                *(alert.kind, alert.id, origin, outcome.error, delay),
            )
            await asyncio.sleep(delay)

    async def _record(self, delivery: Delivery, status: Status) -> None:
        if self._pool is not None:
            await record(self._pool, delivery, status, timeout=self._timeout)

    def _drop(self, delivery: Delivery, reason: str) -> None:
        """Give up on a delivery without waiting; its row is written in the background."""
        delivery.status, delivery.last_error = "failed", reason
        logger.warning(
            "%s alert %s to %s %s",
            *(delivery.alert.kind, delivery.alert.id, delivery.hook.origin, reason),
        )
        if self._pool is None or len(self._records) >= _MAX_UNWRITTEN_DROPS:
            return
        with contextlib.suppress(RuntimeError):  # no running loop: nowhere to record from
            task = asyncio.get_running_loop().create_task(self._record(delivery, "failed"))
            self._records.add(task)
            task.add_done_callback(self._records.discard)


def _leftovers(lane: _Lane) -> list[Delivery]:
    """What a stopped lane still held: the delivery in progress, then the queued ones."""
    found = [lane.current] if lane.current is not None else []
    lane.current, lane.worker = None, None
    while not lane.queue.empty():
        found.append(lane.queue.get_nowait())
    return found
