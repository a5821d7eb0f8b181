"""The evaluation service's steps, between the Kafka handler and the pure gate and rules.

Each event is handled in one transaction of the outbox: its rows (decision, model,
holdout, serving history), the mark that the event was handled, and the events it causes
commit together and are published after the commit. Alerts go to the notifier only once
that commit succeeded, and the notifier never makes the pipeline wait for a webhook.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from dataclasses import dataclass, field

from driftloop_alerts import (
    Alert,
    AlertConfigError,
    Hook,
    Notifier,
    hooks_from_env,
    hooks_from_spec,
)
from driftloop_contracts import (
    ApprovalRequested,
    Event,
    ModelPromoted,
    PromotionDecided,
    PromotionReason,
)
from driftloop_learn import Dataset, sha256
from driftloop_runtime import Outbox, Resources, Send, Transaction
from driftloop_spec import ExperimentSpec, SpecError, validate_spec
from driftloop_store import JsonObject, ModelRow, get_artifact, get_stream

from . import holdout, ledger, store
from .settings import Settings

CONSUMER = "evaluation"
PUBLISHED: tuple[type[Event], ...] = (PromotionDecided, ApprovalRequested, ModelPromoted)
logger = logging.getLogger("driftloop.evaluation")

# Trained-through positions remembered per model: they never change once a model exists.
_REMEMBERED = 10_000


@dataclass
class Notes:
    """Alerts made while handling one event, sent once its transaction has committed."""

    alerts: list[tuple[Alert, ExperimentSpec | None]] = field(default_factory=list)

    def add(self, alert: Alert, spec: ExperimentSpec | None) -> None:
        self.alerts.append((alert, spec))


class Evaluation:
    """The outbox, the notifier and what is remembered between events."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._resources: Resources[Settings] | None = None
        self._outbox: Outbox | None = None
        self._notifier: Notifier | None = None
        self._hooks: tuple[Hook, ...] = ()
        self._sweeper: asyncio.Task[None] | None = None
        self._through: OrderedDict[str, int | None] = OrderedDict()

    def bind(self, resources: Resources[Settings], send: Send) -> None:
        self._resources = resources
        self._outbox = Outbox(resources, send, [event.topic for event in PUBLISHED])

    @property
    def outbox(self) -> Outbox:
        assert self._outbox is not None, "create_router binds the outbox"
        return self._outbox

    async def start(self) -> None:
        """After the store opened: a missing alert secret stops the start, naming it."""
        assert self._resources is not None, "create_router binds the resources"
        self._hooks = hooks_from_env()
        self._notifier = Notifier(self._resources.pool)
        await self._notifier.start()

    async def started(self) -> None:
        """After the broker connected, since the sweep publishes what a crash left behind."""
        every = self.settings.outbox_sweep_seconds
        self._sweeper = asyncio.create_task(self.outbox.run_sweeper(every=every))

    async def stop(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
            self._sweeper = None
        if self._notifier is not None:
            await self._notifier.stop()
            self._notifier = None

    def send(self, notes: Notes) -> None:
        for alert, spec in notes.alerts:
            self.notify(alert, spec)

    def notify(self, alert: Alert, spec: ExperimentSpec | None) -> None:
        logger.info("alert %s for %s: %s", alert.kind, alert.stream, alert.summary)
        if self._notifier is None:
            return
        hooks: tuple[Hook, ...] = ()
        if spec is not None:
            try:
                hooks = hooks_from_spec(spec)
            except AlertConfigError as exc:
                logger.error("%s; this alert goes to service-wide hooks only", exc)
        self._notifier.notify(alert, (*self._hooks, *hooks))

    async def appoint(
        self,
        tx: Transaction,
        cause: Event,
        model: ModelRow,
        reason: PromotionReason,
        *,
        actor: str,
        decision_id: str | None,
        experiment_id: str | None,
    ) -> ModelPromoted:
        """Make ``model`` the champion (the one way every promotion and rollback happens)."""
        serving_id, previous = await ledger.appoint(
            tx.conn, model.stream, model.id, reason.value, actor, decision_id
        )
        promoted = cause.then(
            ModelPromoted,
            stream=model.stream,
            model_id=model.id,
            version=model.version,
            artifact_sha256=model.artifact_sha256,
            serving_id=serving_id,
            previous_model_id=previous,
            reason=reason,
            experiment_id=experiment_id,
        )
        tx.emit(promoted, key=model.stream)
        logger.info(
            "stream %s: model %s v%d serves (%s, by %s), replacing %s",
            *(model.stream, model.id, model.version, reason.value, actor, previous),
        )
        return promoted

    async def trained_through(self, tx: Transaction, model_id: str) -> int | None:
        """The newest record ``model_id`` trained on; None when that is not known (a model
        made outside an experiment)."""
        if model_id in self._through:
            return self._through[model_id]
        found: int | None = None
        origin = await store.model_origin(tx.conn, model_id)
        data = await get_artifact(tx.conn, origin.snapshot_hash) if origin else None
        if origin is not None and data is not None:
            if sha256(data) == origin.snapshot_hash:
                snapshot = await asyncio.to_thread(Dataset.from_bytes, data)
                found = holdout.trained_through(snapshot, holdout.size_of(origin.spec))
            else:
                logger.warning(
                    "model %s: its snapshot %s is altered; the rows it trained on are unknown",
                    *(model_id, origin.snapshot_hash[:12]),
                )
        self._through[model_id] = found
        while len(self._through) > _REMEMBERED:
            self._through.popitem(last=False)
        return found


async def stream_spec(tx: Transaction, stream: str) -> ExperimentSpec | None:
    row = await get_stream(tx.conn, stream)
    return parse_spec(row.spec if row else None, stream)


def parse_spec(data: JsonObject | None, what: str) -> ExperimentSpec | None:
    if data is None:
        return None
    try:
        return validate_spec(data)
    except SpecError as exc:
        logger.error("%s: stored spec is invalid: %s", what, exc)
        return None
