"""The drift service's steps, between the Kafka handlers and the pure monitors.

For each stream: read what arrived from the store, feed the stream's monitor, and turn
each alarm into a ``drift_events`` row, an alert and the event the handler publishes,
then a report. The alarm does not wait for the report: evidently takes seconds of CPU
(tens on a busy machine, the first time), and every second the loop waits a stale model
keeps serving. The report is built in the background ``report_delay_seconds`` after the
alarm, once the loop's answer to it (snapshot, trials, gate) has had the machine, and its
link and what it compared are added to the drift event's row (``report_uri``,
``evidence.report``). It is best effort: when it fails, the failure is logged and kept in
the evidence.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from driftloop_alerts import AlertConfigError, Hook, Notifier, hooks_from_env, hooks_from_spec
from driftloop_contracts import (
    DriftDetected,
    DriftSource,
    Event,
    FeedbackReceived,
    PredictionLogged,
    RecordsIngested,
)
from driftloop_runtime import REFUSALS, Resources
from driftloop_spec import ExperimentSpec, SpecError, validate_spec
from driftloop_store import Pool

from . import store
from .alarms import drift_alert, drift_event, evidence
from .detectors import Detection
from .monitor import SENTINEL, Alarm, StreamMonitor
from .report import Render, render, report_uri
from .settings import Settings

logger = logging.getLogger("driftloop.drift")

UNBUILT = "not built: the drift service stopped first"
# Events remembered to skip a redelivered one: a detector must not see a value twice.
_REMEMBERED = 100_000


@dataclass(frozen=True)
class Watched:
    """A stream's monitor, the spec (as stored) it was built from, and its alert hooks."""

    stored_spec: dict[str, Any]
    spec: ExperimentSpec
    monitor: StreamMonitor
    hooks: tuple[Hook, ...]


class Drift:
    """Monitors per stream and the alert notifier; opened after the store, closed before."""

    def __init__(self, settings: Settings, render: Render = render) -> None:
        self.settings = settings
        self._render = render
        self._resources: Resources[Settings] | None = None
        self._notifier: Notifier | None = None
        self._hooks: tuple[Hook, ...] = ()
        self._streams: dict[str, Watched] = {}
        self._handled: OrderedDict[UUID, None] = OrderedDict()
        self._reports: dict[asyncio.Task[None], UUID] = {}  # to build, with their alarm

    def bind(self, resources: Resources[Settings]) -> None:
        self._resources = resources

    @property
    def pool(self) -> Pool:
        assert self._resources is not None, "create_router binds the resources"
        return self._resources.pool

    async def start(self) -> None:
        # Read here, not at import: a missing secret stops the start, naming its variable.
        self._hooks = hooks_from_env()
        self._notifier = Notifier(self.pool)
        await self._notifier.start()

    async def stop(self) -> None:
        # A report is for people: none is worth holding a stop, but its row says why not.
        unbuilt = list(self._reports.values())
        for task in self._reports:
            task.cancel()
        await self.settle()
        if unbuilt:
            try:
                async with self.pool.connection() as conn:
                    await store.abandon_reports(conn, unbuilt, UNBUILT)
            except Exception:
                logger.exception("reports of drift events %s not marked unbuilt", unbuilt)
        if self._notifier is not None:
            await self._notifier.stop()

    async def settle(self) -> None:
        """Wait for the reports still to be built, and their rows updated."""
        while self._reports:
            await asyncio.gather(*self._reports, return_exceptions=True)

    def status(self) -> dict[str, Any]:
        return {stream: w.monitor.status() for stream, w in sorted(self._streams.items())}

    async def save_labels(self, feedback: list[FeedbackReceived]) -> None:
        """Store labels given as feedback, before they are fed: experiments train on them.
        A label the store refuses (NaN, say) is logged and left out; the others are kept."""
        if not feedback:
            return
        async with self.pool.connection() as conn:
            try:
                async with conn.transaction():
                    await store.save_labels(conn, feedback)
                return
            except REFUSALS:
                pass  # one at a time, to keep all but the refused
            for label in feedback:
                try:
                    async with conn.transaction():
                        await store.save_labels(conn, [label])
                except REFUSALS as exc:
                    logger.error(
                        "label of %s %s (event %s) not stored: the store refused it: %s",
                        *(label.stream, label.record_id, label.event_id, exc),
                    )

    async def handle(self, event: Event) -> list[DriftDetected]:
        """Feed one event to its stream's monitor, once however often it is delivered;
        return the alarms it raised, as events to publish."""
        if event.event_id in self._handled:
            return []
        match event:
            case RecordsIngested():
                found = await self._batch(event)
            case PredictionLogged() | FeedbackReceived():
                found = await self._joined(event)
            case _:
                found = []
        # Remembered once handled: one whose store read failed is fed when redelivered.
        self._handled[event.event_id] = None
        while len(self._handled) > _REMEMBERED:
            self._handled.popitem(last=False)
        return found

    async def _batch(self, event: RecordsIngested) -> list[DriftDetected]:
        async with self.pool.connection() as conn:
            context = await store.stream_context(conn, event.stream)
            watched = self._watched(event.stream, context.spec if context else None)
            if context is None or watched is None:
                return []
            records = await store.batch_records(conn, event.stream, event.batch_id)
        alarms = watched.monitor.observe(records, context.champion)
        return [await self._raise(event, watched, alarm, context.champion) for alarm in alarms]

    async def _joined(self, event: PredictionLogged | FeedbackReceived) -> list[DriftDetected]:
        if (watched := await self._load(event.stream)) is None:
            return []
        at, monitor = event.occurred_at, watched.monitor
        if isinstance(event, PredictionLogged):
            alarms = monitor.prediction(event.record_id, event.model_id, event.prediction, at)
        else:
            alarms = monitor.feedback(event.record_id, event.label, at)
        return [await self._raise(event, watched, alarm, None) for alarm in alarms]

    async def _load(self, stream: str) -> Watched | None:
        # The spec is read again with each batch; predictions and feedback use the
        # monitor as it is, and read the spec only for a stream not seen yet.
        if (watched := self._streams.get(stream)) is not None:
            return watched
        async with self.pool.connection() as conn:
            context = await store.stream_context(conn, stream)
        return self._watched(stream, context.spec if context else None)

    def _watched(self, stream: str, stored_spec: dict[str, Any] | None) -> Watched | None:
        """The stream's monitor, rebuilt when its spec changed; None without a usable spec."""
        if stored_spec is None:
            return None
        watched = self._streams.get(stream)
        if watched is not None and watched.stored_spec == stored_spec:
            return watched
        try:
            spec = validate_spec(stored_spec)
        except SpecError as exc:
            logger.error("stream %s: stored spec is invalid, not watching it: %s", stream, exc)
            return None
        try:
            hooks = hooks_from_spec(spec)
        except AlertConfigError as exc:
            logger.error("%s; drift alerts for it go to service-wide hooks only", exc)
            hooks = ()
        monitor = StreamMonitor(spec, joins=self.settings.join_capacity)
        self._streams[stream] = watched = Watched(stored_spec, spec, monitor, hooks)
        logger.info("watching stream %s", stream)
        return watched

    async def _raise(
        self, cause: Event, watched: Watched, alarm: Alarm, champion: str | None
    ) -> DriftDetected:
        found = alarm.detection
        if found.source == DriftSource.ERRORS and found.series != SENTINEL:
            champion = found.series  # the model whose errors rose
        event = drift_event(cause, watched.spec.stream, alarm, champion=champion, report_uri=None)
        try:
            async with self.pool.connection() as conn:
                await store.record_drift(conn, event, evidence(alarm, store.REPORT_PENDING))
        except Exception:  # the monitor has moved past this change: still alarm
            logger.exception("stream %s: drift event %s not stored", event.stream, event.event_id)
        logger.warning(
            "drift on %s: %s on %s, %+.4g (%s) at record %s",
            *(event.stream, event.detector, found.series, event.statistic, event.severity.value),
            found.alarm.record_id,
        )
        if self._notifier is not None:
            self._notifier.notify(drift_alert(event), (*self._hooks, *watched.hooks))
        task = asyncio.create_task(self._reported(event, watched, found))
        self._reports[task] = event.event_id
        task.add_done_callback(self._built)
        return event

    def _built(self, task: asyncio.Task[None]) -> None:
        self._reports.pop(task, None)

    async def _reported(self, event: DriftDetected, watched: Watched, found: Detection) -> None:
        """The alarm's report, once the loop has answered the alarm, added to its row."""
        await asyncio.sleep(self.settings.report_delay_seconds)
        uri, report = await self._report(watched.spec, found, event.model_id)
        try:
            async with self.pool.connection() as conn:
                await store.attach_report(conn, event.event_id, uri, report)
        except Exception:
            what = (event.stream, event.event_id)
            logger.exception("stream %s: the report of drift %s was not stored", *what)

    async def _report(
        self, spec: ExperimentSpec, found: Detection, champion: str | None
    ) -> tuple[str | None, dict[str, Any]]:
        """The report's link and what it compared; no link, and the error, if it failed."""
        try:
            async with self.pool.connection() as conn:
                windows = await store.report_windows(
                    conn,
                    spec.stream,
                    change=found.change.record_id,
                    alarm=found.alarm.record_id,
                    champion=champion,
                    rows=self.settings.report_rows,
                )
            html = await asyncio.to_thread(self._render, windows, spec)
            async with self.pool.connection() as conn:
                sha256 = await store.save_report(conn, html)
        except Exception as exc:
            logger.exception("stream %s: the drift report failed; alarming without it", spec.stream)
            return None, {"error": f"{type(exc).__name__}: {exc}"}
        return report_uri(sha256), {"sha256": sha256, **windows.summary()}
