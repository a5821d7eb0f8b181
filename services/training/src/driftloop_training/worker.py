"""The training service's steps, between the Kafka handler and the pure trial.

For one ``TrialRequested``: read the trial (skip it if it is no longer open, or if a newer
attempt of it is queued), read and check its snapshot, run it in a thread so the event
loop keeps the consumer's heartbeats and ``/health`` answering, then commit the model,
the trial's row and the event announcing it in one transaction (the outbox), so a crash
at any point either leaves the trial open, to be run again, or finished and announced.

Store errors propagate: the handler has the request delivered again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable, Sequence
from functools import partial
from typing import TypeVar

from driftloop_contracts import TrialCompleted, TrialFailed, TrialRequested
from driftloop_runtime import Outbox, Resources, Send
from driftloop_spec import SpecError
from driftloop_store import Pool, get_artifact

from . import store
from .settings import Settings
from .trial import Failed, Outcome, Trained, job, pick_spec, reason, train

logger = logging.getLogger("driftloop.training")
T = TypeVar("T")


class _Superseded(Exception):
    """The trial was finished elsewhere while this replica ran it: roll back, send nothing."""


class Trainer:
    """Runs trials one at a time; opened after the broker starts, closed before it stops."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._resources: Resources[Settings] | None = None
        self._outbox: Outbox | None = None
        self._sweeper: asyncio.Task[None] | None = None

    def bind(self, resources: Resources[Settings], send: Send, topics: Sequence[str]) -> None:
        self._resources = resources
        self._outbox = Outbox(resources, send, topics)

    @property
    def pool(self) -> Pool:
        assert self._resources is not None, "create_router binds the resources"
        return self._resources.pool

    @property
    def outbox(self) -> Outbox:
        assert self._outbox is not None, "create_router binds the outbox"
        return self._outbox

    async def start(self) -> None:
        every = self.settings.outbox_sweep_seconds
        self._sweeper = asyncio.create_task(self.outbox.run_sweeper(every=every))

    async def stop(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            await asyncio.gather(self._sweeper, return_exceptions=True)
            self._sweeper = None

    async def handle(self, request: TrialRequested) -> TrialCompleted | TrialFailed | None:
        """Run the requested trial unless it is done or stale; the event it committed."""
        async with self.pool.connection() as conn:
            trial = await store.find_trial(conn, request.trial_id)
            if trial is None:
                # Not in this store: nothing to record a result in. The scheduler's
                # deadline re-queues a trial that really was lost.
                logger.warning("trial %s is not in the store; skipped", request.trial_id)
                return None
            if trial.status != "requested" or request.attempt < trial.attempt:
                logger.info(
                    "trial %s attempt %d skipped: %s, attempt %d on record",
                    *(trial.id, request.attempt, trial.status, trial.attempt),
                )
                return None
            snapshot_hash = trial.snapshot_hash or request.snapshot_hash
            snapshot = await get_artifact(conn, snapshot_hash)
        try:
            spec = pick_spec(trial.experiment_spec, trial.stream_spec)
        except SpecError as exc:
            return await self._record(request, Failed(reason(exc)))
        if snapshot is None:
            return await self._record(
                request, Failed(f"snapshot {snapshot_hash} is not in the artifact store")
            )
        todo = job(
            spec,
            family=trial.family,
            params=trial.params,
            seed=trial.seed,
            snapshot_hash=snapshot_hash,
        )
        logger.info("trial %s attempt %d: %s started", trial.id, request.attempt, trial.family)
        outcome = await self._run(request, lambda: train(todo, snapshot))
        return await self._record(request, outcome)

    async def _run(self, request: TrialRequested, work: Callable[[], Outcome]) -> Outcome:
        """The trial's outcome, however long it takes: its timeout is only logged here.

        A thread cannot be stopped, so giving up at the timeout would leave it burning the
        core the next trial needs, and the scheduler's re-queued attempt (keyed alike, so
        on this partition, behind this one) would start the same work again beside it.
        Finishing instead lets a late result still count while the trial is open.
        """
        running = asyncio.ensure_future(_in_thread(work))
        try:
            done, _ = await asyncio.wait({running}, timeout=request.timeout_seconds)
            if not done:
                logger.warning(
                    "trial %s overran its %.0fs timeout; finishing it, it counts if still open",
                    *(request.trial_id, request.timeout_seconds),
                )
            return await running
        finally:
            running.cancel()  # only when this handler was cancelled: the replica is stopping

    async def _record(
        self, request: TrialRequested, outcome: Outcome
    ) -> TrialCompleted | TrialFailed | None:
        worker = self.settings.instance
        event: TrialCompleted | TrialFailed
        try:
            async with self.outbox.transaction() as tx:
                if isinstance(outcome, Trained):
                    attempt = await store.complete(tx.conn, request.trial_id, outcome, worker)
                    if attempt is None:
                        raise _Superseded
                    event = request.then(
                        TrialCompleted,
                        metrics=outcome.metrics,
                        artifact_sha256=outcome.artifact_sha256,
                        duration_seconds=outcome.duration_seconds,
                        worker=worker,
                        attempt=attempt,
                    )
                else:
                    attempt = await store.fail(tx.conn, request.trial_id, outcome.reason, worker)
                    if attempt is None:
                        raise _Superseded
                    event = request.then(
                        TrialFailed, reason=outcome.reason, attempt=attempt, worker=worker
                    )
                tx.emit(event, key=request.stream)
        except _Superseded:
            logger.info("trial %s was finished elsewhere meanwhile", request.trial_id)
            return None
        if isinstance(event, TrialFailed):
            logger.warning("trial %s failed: %s", request.trial_id, event.reason)
        else:
            logger.info("trial %s completed: %s", request.trial_id, event.metrics)
        return event


async def _in_thread(work: Callable[[], T]) -> T:
    """``asyncio.to_thread``, but in a daemon thread: a replica told to stop mid-trial
    exits at once (its trial is redelivered elsewhere) instead of waiting for the trial."""
    loop = asyncio.get_running_loop()
    result: asyncio.Future[T] = loop.create_future()

    def settle(outcome: Callable[[], None]) -> None:
        if not result.done():
            outcome()

    def run() -> None:
        try:
            outcome = partial(result.set_result, work())
        except BaseException as exc:
            outcome = partial(result.set_exception, exc)
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile: nobody waits
            loop.call_soon_threadsafe(settle, outcome)

    threading.Thread(target=run, name="driftloop-trial", daemon=True).start()
    return await result
