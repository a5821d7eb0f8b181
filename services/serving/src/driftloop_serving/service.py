"""The serving replica: its champions, streams, prediction log and online learning.

The HTTP routes and the promotion handler call this object; it owns the background tasks
(the prediction log sender, the stream refresher, the checkpointer) and the rule for
appointing a model: load it first, swap after, keep the old one when loading fails.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from faststream.kafka import KafkaBroker
from psycopg import OperationalError

from driftloop_alerts import Alert, Hook, Notifier, hooks_from_env
from driftloop_contracts import FeedbackReceived
from driftloop_runtime import Resources

from . import online, predict
from .batcher import Batcher
from .champions import Appointment, Champion, Champions
from .checkpoints import Checkpointer
from .loader import LoadFailed, load_champion
from .metrics import Metrics
from .predlog import PredictionLog
from .rules import Problem
from .settings import Settings
from .sink import KafkaSink
from .store import (
    StreamRecord,
    current_champions,
    read_stream,
    read_streams,
    recorded_appointment,
)
from .streams import Streams
from .validation import Invalid, StreamValidator, parse_body, stream_of

logger = logging.getLogger("driftloop.serving")

LOAD_ATTEMPTS = 3


class Serving:
    def __init__(self, resources: Resources[Settings], broker: KafkaBroker) -> None:
        settings = resources.settings
        self.settings = settings
        self.resources = resources
        self.broker = broker
        self.metrics = Metrics()
        self.champions = Champions()
        self.streams = Streams(self._read_streams, self._read_stream, settings.max_batch)
        self.sink = KafkaSink(
            settings.kafka_bootstrap_servers, f"driftloop-serving-{settings.instance}-log"
        )
        self.log = PredictionLog(
            self.sink,
            self.metrics,
            settings.log_queue_size,
            settings.log_batch_size,
            settings.log_linger_seconds,
        )
        self.recent = online.Recent(settings.recent_predictions)
        self.batcher = Batcher(self.metrics.batch_rows.observe)
        self.checkpoints = Checkpointer(resources, self.champions, self.metrics)
        self._latest: dict[str, int] = {}
        self._locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._tasks: list[asyncio.Task[None]] = []
        self._notifier: Notifier | None = None
        self._hooks: tuple[Hook, ...] = ()

    # -- life ----------------------------------------------------------------------------

    async def start_store(self) -> None:
        """Read the streams, and load every champion the store names."""
        self._hooks = hooks_from_env()
        self._notifier = Notifier(self.resources.pool)
        await self._notifier.start()
        await self.streams.refresh()
        async with self.resources.pool.connection() as conn:
            appointments = await current_champions(conn)
        for appointment in appointments:
            await self.appoint(appointment)

    async def start(self) -> None:
        """Work in the background: send the prediction log, re-read the streams, checkpoint."""
        await self.sink.start()
        self._tasks = [
            asyncio.create_task(self.log.run()),
            asyncio.create_task(self.streams.run_refresher(self.settings.schema_ttl_seconds)),
            asyncio.create_task(self.checkpoints.run()),
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.checkpoints.save_unsaved(self.champions.all())
        await self.log.flush()
        await self.sink.stop()
        if self._notifier is not None:
            await self._notifier.stop()
            self._notifier = None

    # -- promotions ----------------------------------------------------------------------

    async def appoint(self, appointment: Appointment) -> bool:
        """Load the appointed model and swap it in, unless a later appointment is known.
        An appointment serving history does not hold is refused, as is a model that cannot
        be loaded: the previous one keeps serving."""
        stream = appointment.stream
        async with self._locks[stream]:
            if appointment.serving_id < self._latest.get(stream, 0):
                return False
            if not self.champions.supersedes(appointment):
                return False
            # Before it counts as the latest: a made-up promotion with a huge serving id
            # would otherwise make every real one after it look stale.
            if not await self._recorded(appointment):
                return False
            self._latest[stream] = appointment.serving_id
            champion = await self._load(appointment)
            if champion is None:
                return False
            previous = self.champions.get(stream)
            self.champions.offer(champion)
        self.metrics.model_version.labels(stream).set(champion.version)
        self.metrics.swaps.labels(stream, "promoted" if previous else "first").inc()
        logger.info(
            "stream %s now served by model %s v%d", stream, champion.model_id, champion.version
        )
        if previous is not None:
            await self.checkpoints.save_unsaved([previous])
        return True

    async def _recorded(self, appointment: Appointment) -> bool:
        async with self.resources.pool.connection() as conn:
            recorded = await recorded_appointment(conn, appointment.serving_id)
        if recorded is not None and replace(recorded, since=appointment.since) == appointment:
            return True
        self.metrics.load_failures.labels(appointment.stream, "unrecorded").inc()
        logger.error(
            "skipping the promotion of model %s v%d for stream %s: serving history holds"
            " no such appointment %d",
            *(appointment.model_id, appointment.version, appointment.stream),
            appointment.serving_id,
        )
        return False

    async def _load(self, appointment: Appointment) -> Champion | None:
        stream = appointment.stream
        validator = await self.streams.find(stream)
        if validator is None:
            # A shared broker can replay promotions of streams another database holds.
            self.metrics.load_failures.labels(stream, "unknown_stream").inc()
            logger.warning("promotion for stream %s, which is not registered: ignored", stream)
            return None
        for attempt in range(1, LOAD_ATTEMPTS + 1):
            try:
                async with self.resources.pool.connection() as conn:
                    return await load_champion(
                        conn,
                        appointment,
                        validator.schema.online,
                        lambda exc: self._refused(appointment, exc, "checkpoint_"),
                    )
            except LoadFailed as exc:
                self._refused(appointment, exc)
                return None
            except OperationalError:
                if attempt == LOAD_ATTEMPTS:
                    raise
                await asyncio.sleep(0.5 * attempt)
        return None

    def _refused(self, appointment: Appointment, exc: LoadFailed, prefix: str = "") -> None:
        """Count, log and alert a model (or checkpoint) that was not loaded: an artifact
        failing its hash may have been tampered with, and a person should know."""
        what = f"model {appointment.model_id} v{appointment.version}"
        self.metrics.load_failures.labels(appointment.stream, prefix + exc.reason).inc()
        logger.error("%s for stream %s refused: %s", what, appointment.stream, exc)
        if self._notifier is not None:
            alert = Alert(
                kind="failure",
                stream=appointment.stream,
                summary=f"{appointment.stream}: serving refused {what}, the previous one"
                f" serves on: {exc}",
                details={"model_id": appointment.model_id, "reason": prefix + exc.reason},
            )
            self._notifier.notify(alert, self._hooks)

    # -- requests ------------------------------------------------------------------------

    async def predict(self, body: bytes) -> dict[str, Any]:
        data = parse_body(body)
        validator = await self._validator(data)
        scoring = validator.scoring(data)
        champion = self.champions.get(scoring.stream)
        if champion is None:
            raise Invalid(Problem("stream", f"no model serves stream {scoring.stream} yet"), 503)
        scored = predict.scored(scoring, await self.batcher.score(champion, scoring.features))
        self.log.append(predict.logged(champion, scored, datetime.now(UTC)))
        self.metrics.count_predictions(
            champion.stream, champion.version, [s.prediction for s in scored]
        )
        if champion.online is not None and validator.schema.online:
            for s in scored:
                self.recent.remember(champion.stream, s.record_id, s.features)
        return predict.answer(champion, scoring, scored)

    async def feedback(self, body: bytes) -> dict[str, Any]:
        data = parse_body(body)
        validator = await self._validator(data)
        labels = validator.labels(data)
        events = [
            FeedbackReceived(stream=labels.stream, record_id=record_id, label=label)
            for record_id, label in labels.labels
        ]
        await self._publish_all(events, labels.stream)
        self.metrics.feedback.labels(labels.stream).inc(len(events))
        learned = 0
        champion = self.champions.get(labels.stream)
        if champion is not None and champion.online is not None and validator.schema.online:
            for record_id, label in labels.labels:
                features = self.recent.take(labels.stream, record_id)
                if features is not None and online.learn(champion, features, label):
                    learned += 1
            self.metrics.learned.labels(labels.stream).inc(learned)
            self.checkpoints.nudge(champion)
        return {"stream": labels.stream, "accepted": len(events), "learned": learned}

    async def _validator(self, data: dict[str, Any]) -> StreamValidator:
        stream = stream_of(data)
        validator = self.streams.get(stream) or await self.streams.find(stream)
        if validator is None:
            raise Invalid(Problem("stream", f"no stream named {stream!r} is registered"))
        return validator

    # -- Kafka ---------------------------------------------------------------------------

    async def _publish_all(self, events: list[FeedbackReceived], stream: str) -> None:
        key = stream.encode()
        try:
            sent = [await self.broker.publish(e, e.topic, key=key, no_confirm=True) for e in events]
            await asyncio.gather(*(f for f in sent if isinstance(f, asyncio.Future)))
        except Exception as exc:
            logger.error("could not publish %d labels for %s: %s", len(events), stream, exc)
            raise Invalid(
                Problem("body", "labels not recorded: Kafka is unreachable"), 503
            ) from None

    # -- store ---------------------------------------------------------------------------

    async def _read_streams(self) -> list[StreamRecord]:
        async with self.resources.pool.connection() as conn:
            return await read_streams(conn)

    async def _read_stream(self, name: str) -> StreamRecord | None:
        async with self.resources.pool.connection() as conn:
            return await read_stream(conn, name)
