"""The scheduler between the Kafka handler and the store: each event handled in one outbox
transaction, and a background pass every ``loop_seconds`` for what no event announces
(trials past their deadline, experiments out of wall time or idle, schedule ticks).

Nothing is kept between events but a note of schedule ticks already reported as skipped:
the store is the truth, so any replica can handle any event and a restart loses nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any
from uuid import NAMESPACE_URL, uuid5

from pydantic import ValidationError

from driftloop_contracts import (
    DriftDetected,
    Event,
    ExperimentControlRequested,
    ExperimentRequested,
    TrialCompleted,
    TrialFailed,
    Trigger,
)
from driftloop_runtime import Outbox, Resources, Transaction
from driftloop_spec import ExperimentSpec
from driftloop_store import first_handling

from . import followup_store, store, trial_store
from .controls import obey, time_out
from .followups import refit, resume
from .progress import advance
from .schedule import latest_tick
from .settings import Settings
from .start import StartRequest, start

CONSUMER = "scheduler"
logger = logging.getLogger("driftloop.scheduler")


class Scheduler:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._resources: Resources[Settings] | None = None
        self._outbox: Outbox | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._skipped: dict[str, datetime] = {}  # stream -> tick reported as skipped

    def bind(self, resources: Resources[Settings], outbox: Outbox) -> None:
        self._resources, self._outbox = resources, outbox

    @property
    def outbox(self) -> Outbox:
        assert self._outbox is not None, "create_router binds the outbox"
        return self._outbox

    async def handle(self, event: Event) -> None:
        """Act on one event once, however often it is delivered."""
        async with self.outbox.transaction() as tx:
            if not await first_handling(tx.conn, CONSUMER, str(event.event_id)):
                logger.info("%s %s handled before; skipped", type(event).__name__, event.event_id)
                return
            await self._dispatch(tx, event)

    async def _dispatch(self, tx: Transaction, event: Event) -> None:
        eid = str(event.event_id)
        match event:
            case DriftDetected():
                why = f"{event.detector} on {event.source.value} ({event.severity.value})"
                request = StartRequest(
                    eid, event.stream, Trigger.DRIFT, eid, "drift", f"drift: {why}", cause=event
                )
                await start(tx, self.settings, request)
            case ExperimentRequested():
                request = StartRequest(
                    eid,
                    event.stream,
                    event.trigger,
                    eid,
                    event.requested_by,
                    event.reason,
                    spec_text=event.spec,
                    cause=event,
                )
                await start(tx, self.settings, request)
            case ExperimentControlRequested():
                await obey(tx, event)
            case TrialCompleted() | TrialFailed():
                outcome = "completed" if isinstance(event, TrialCompleted) else "failed"
                logger.info(
                    "experiment %s: trial %s %s (attempt %d)",
                    event.experiment_id,
                    event.trial_id,
                    outcome,
                    event.attempt,
                )
                await advance(tx, event.experiment_id, event)

    async def start(self) -> None:
        """Start the background pass and the outbox sweeper (after the broker is up)."""
        every = self.settings.outbox_sweep_seconds
        self._tasks = [
            asyncio.create_task(self._loop()),
            asyncio.create_task(self.outbox.run_sweeper(every=every, older_than=2 * every)),
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    async def _loop(self) -> None:
        while True:
            try:
                await self.run_once()
            except Exception:
                logger.exception("background pass failed; retrying")
            await asyncio.sleep(self.settings.loop_seconds)

    async def run_once(self, now: datetime | None = None) -> None:
        """One background pass: time-outs, idle experiments, experiments waiting for labels,
        refits of short windows, schedule ticks."""
        assert self._resources is not None
        async with self._resources.pool.connection() as conn:
            overdue = await trial_store.overdue_trials(conn)
            idle = await store.idle_experiments(conn)
            pending = await followup_store.pending_experiments(conn)
            short = await followup_store.short_windows(conn) if self.settings.refit else []
            scheduled = await store.scheduled_streams(conn)
        for trial_id, experiment_id in overdue:
            await self._guarded(f"trial {trial_id}", time_out, trial_id, experiment_id)
        for experiment_id in idle:
            await self._guarded(f"experiment {experiment_id}", advance, experiment_id, None)
        for experiment_id in pending:
            await self._guarded(f"experiment {experiment_id}", resume, self.settings, experiment_id)
        for latest in short:
            await self._guarded(f"refit of {latest.id}", refit, self.settings, latest)
        for stream in scheduled:
            await self._tick(stream, now or datetime.now(UTC))

    async def _guarded(self, what: str, step: Callable[..., Awaitable[None]], *args: Any) -> None:
        # One broken experiment must not hold up the others.
        try:
            async with self.outbox.transaction() as tx:
                await step(tx, *args)
        except Exception:
            logger.exception("background step on %s failed; retried next pass", what)

    async def _tick(self, stream: store.ScheduledStream, now: datetime) -> None:
        try:
            schedule = ExperimentSpec.model_validate(stream.spec).triggers.schedule
        except ValidationError:
            return
        if schedule is None:
            return
        tick = latest_tick(schedule, anchor=stream.created_at, after=stream.last_activity, now=now)
        if tick is None:
            return
        if stream.active:
            if self._skipped.get(stream.name) != tick:
                self._skipped[stream.name] = tick
                logger.info(
                    "schedule tick %s of %s skipped: an experiment is active",
                    tick.isoformat(),
                    stream.name,
                )
            return
        ref = tick.isoformat()
        request = StartRequest(
            str(uuid5(NAMESPACE_URL, f"{stream.name}@{ref}")),
            stream.name,
            Trigger.SCHEDULE,
            ref,
            "schedule",
            f"schedule tick {ref}",
        )
        await self._guarded(f"schedule of {stream.name}", start, self.settings, request)
