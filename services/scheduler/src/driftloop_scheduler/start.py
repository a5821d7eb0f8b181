"""Starting an experiment, inside one outbox transaction: decide whether to start, take the
snapshot, re-score archived models (a recurring concept ends it at once), plan the seeding
from prior experiments, and ask for the first trials.

One experiment per stream at a time: the stream's row is locked while this decides, and
a trigger that finds one active starts nothing. The experiment's id comes from its
trigger, so a trigger delivered twice cannot start two.

An experiment started by a drift learns from the records since the change the drift
service located, not from a window that mixes the old concept in. The alarm comes soon
after the change, so those records are few. Archived models are re-scored on them at once
(a recurring concept needs no more); otherwise the experiment waits (``pending``) for
``change_rows`` of them to be labelled, at most ``change_wait_seconds``, and the
background pass begins it once they are in (``followups``). An experiment short of its
window runs one round of trials, for a quick model; the background pass runs it again
once the window is full (a refit).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from pydantic import ValidationError

from driftloop_contracts import (
    Event,
    ExperimentCompleted,
    ExperimentStarted,
    ExperimentStatus,
    Trigger,
)
from driftloop_runtime import Transaction
from driftloop_spec import ExperimentSpec, SpecError, parse_spec

from . import followup_store, priors, store
from .knowledge import Seeding, plan_seeding
from .progress import advance, effect
from .seeding import prior_seeds, rescore_archived
from .settings import Settings
from .snapshot import selection, short_of, take, too_small

logger = logging.getLogger("driftloop.scheduler")


@dataclass(frozen=True)
class StartRequest:
    experiment_id: str
    stream: str
    trigger: Trigger
    trigger_ref: str
    requested_by: str
    reason: str = ""
    spec_text: str | None = None  # a person's spec for this experiment only
    cause: Event | None = None


async def start(tx: Transaction, settings: Settings, request: StartRequest) -> None:
    conn, eid = tx.conn, request.experiment_id
    stream = await store.lock_stream(conn, request.stream)
    if stream is None:
        logger.info("experiment %s not started: unknown stream %s", eid, request.stream)
        return
    spec = _spec(request, stream.spec)
    if isinstance(spec, str):
        logger.info("experiment %s not started for %s: %s", eid, request.stream, spec)
        return
    if request.trigger == Trigger.DRIFT and not (
        spec.triggers.drift and spec.triggers.drift.detectors
    ):
        logger.info("experiment %s not started: %s has no drift trigger", eid, request.stream)
        return
    if (active := await store.active_experiment(conn, request.stream)) is not None:
        logger.info(
            "experiment %s not started (%s): experiment %s of %s is still active",
            eid,
            request.trigger.value,
            active,
            request.stream,
        )
        return
    new = store.NewExperiment(
        eid,
        request.stream,
        request.trigger,
        request.trigger_ref,
        spec,
        request.requested_by,
        request.reason,
    )
    if not await store.insert_experiment(conn, new):
        logger.info("experiment %s exists already: its trigger was handled", eid)
        return
    logger.info(
        "experiment %s: %s experiment for %s requested by %s",
        eid,
        request.trigger.value,
        request.stream,
        request.requested_by,
    )
    await begin(tx, settings, request, spec)


async def change_of(tx: Transaction, stream: str, trigger: Trigger, ref: str | None) -> int | None:
    """Where a drift experiment's records begin: its alarm's change point, when known."""
    if trigger != Trigger.DRIFT or not ref:
        return None
    return await followup_store.change_point(tx.conn, stream, ref)


async def begin(
    tx: Transaction,
    settings: Settings,
    request: StartRequest,
    spec: ExperimentSpec,
    *,
    waited: float = 0.0,
) -> None:
    """Snapshot, re-score, seed and ask for the first trials; or, for a drift whose change
    has too few labelled records yet, leave the experiment pending for the next pass."""
    conn, eid = tx.conn, request.experiment_id
    change = await change_of(tx, request.stream, request.trigger, request.trigger_ref)
    chosen = selection(spec.window, datetime.now(UTC), settings.max_snapshot_rows, change=change)
    data = await store.window_rows(conn, request.stream, chosen)
    short = short_of(chosen, len(data), settings.change_rows)
    waiting = short is not None and waited < settings.change_wait_seconds
    if (why := too_small(len(data), spec.holdout, settings.min_snapshot_rows)) is not None:
        if waiting:
            _waits(eid, len(data), short)
            return
        await store.finish(conn, eid, ExperimentStatus.FAILED, why)
        tx.emit(_completed(request, ExperimentStatus.FAILED, None, why), key=request.stream)
        logger.info("experiment %s: failed: %s", eid, why)
        return
    snapshot = await asyncio.to_thread(take, data, spec, chosen)
    # A recurring concept needs no training: archived models are tried on the first labels
    # since the change, and only a new concept waits for enough labels to learn from.
    rescored = await rescore_archived(
        tx, settings, eid, request.stream, spec, snapshot, record=not waiting
    )
    passed = rescored is not None and rescored.winner is not None
    if waiting and not passed:
        _waits(eid, len(data), short)
        return
    await store.save_snapshot(conn, request.stream, snapshot)
    logger.info("experiment %s: snapshot %s of %d rows", eid, snapshot.hash[:12], len(data))
    if rescored is not None and rescored.winner is not None:
        reason = f"recurring concept: archived model {rescored.winner} passes: {rescored.reason}"
        await _started(tx, request, spec, snapshot.hash, [])
        await store.finish(
            conn, eid, ExperimentStatus.COMPLETED, reason, candidate_model_id=rescored.winner
        )
        completed = _completed(
            request, ExperimentStatus.COMPLETED, snapshot.hash, reason, rescored.winner
        )
        tx.emit(completed, key=request.stream)
        logger.info("experiment %s: completed without training: %s", eid, reason)
        return
    found = await priors.prior_experiments(conn, eid, spec.objective.metric)
    try:
        seeding = await asyncio.to_thread(plan_seeding, spec, snapshot.meta, found)
    except Exception:  # deterministic, so retrying cannot help; the first ask will say
        logger.exception("experiment %s: planning the seeding failed", eid)
        seeding = Seeding()
    seeded_from = list(dict.fromkeys(source.experiment_id for source in seeding.sources))
    trials = spec.budget.trials
    short_window = spec.window.kind == "records" and len(data) < chosen.limit
    if settings.refit and request.spec_text is None and short_window:
        # Short of its window, so a refit follows once the window is full. Until then one
        # round of trials gives the quick model the stream needs now: searching longer on
        # a few rows would mostly fit their noise.
        trials = min(trials, spec.budget.parallel)
        await store.set_budget(conn, eid, trials)
    await _started(tx, request, spec, snapshot.hash, seeded_from, trials)
    await priors.record_seeds(conn, eid, prior_seeds(seeding))
    logger.info(
        "experiment %s: seeded with %d configs and %d observations from experiments %s",
        eid,
        len(seeding.configs),
        len(seeding.observations),
        seeded_from or "none",
    )
    await advance(tx, eid, request.cause)


def _waits(eid: str, rows: int, short: int | None) -> None:
    logger.info(
        "experiment %s: %d labelled records since the change; waiting for %s more",
        *(eid, rows, short),
    )


async def _started(
    tx: Transaction,
    request: StartRequest,
    spec: ExperimentSpec,
    snapshot_hash: str,
    seeded_from: list[str],
    trials: int | None = None,
) -> None:
    """Running from now: the wall clock starts, and ExperimentStarted goes out."""
    budget = spec.budget.wall_time.total_seconds()
    await store.mark_started(tx.conn, request.experiment_id, snapshot_hash, budget, seeded_from)
    started = effect(
        request.cause,
        ExperimentStarted,
        stream=request.stream,
        experiment_id=request.experiment_id,
        trigger=request.trigger,
        snapshot_hash=snapshot_hash,
        budget_trials=trials or spec.budget.trials,
        budget_seconds=budget,
        seeded_from=tuple(seeded_from),
    )
    tx.emit(started, key=request.stream)


def _spec(request: StartRequest, stored: dict[str, object] | None) -> ExperimentSpec | str:
    """The spec to run under, or why there is none."""
    if request.spec_text is None:
        if stored is None:
            return "the stream has no spec"
        try:
            return ExperimentSpec.model_validate(stored)
        except ValidationError as exc:  # stored by an older release, say
            return f"the stream's stored spec is not valid now: {exc}"
    try:
        spec = parse_spec(request.spec_text, "yaml")
    except SpecError as yaml_error:
        try:  # a person may send TOML; YAML reads most of it as a plain string
            spec = parse_spec(request.spec_text, "toml")
        except SpecError:
            return f"the requested spec is invalid: {yaml_error}"
    if spec.stream != request.stream:
        return f"the requested spec is for stream {spec.stream}"
    return spec


def _completed(
    request: StartRequest,
    status: ExperimentStatus,
    snapshot_hash: str | None,
    reason: str,
    candidate: str | None = None,
) -> ExperimentCompleted:
    return effect(
        request.cause,
        ExperimentCompleted,
        stream=request.stream,
        experiment_id=request.experiment_id,
        status=status,
        candidate_model_id=candidate,
        snapshot_hash=snapshot_hash,
        trials_run=0,
        reason=reason,
    )
