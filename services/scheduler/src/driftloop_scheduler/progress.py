"""A running experiment, moved on inside one outbox transaction: ask for the trials its
budget allows (prior experiments' best configs first, then the optimiser's), or finish it.

Every step locks the experiment's row first, so a trial told, a timeout swept and a
person's stop are applied one after the other, whichever replica handles them. The rows
and the events they announce commit together (the outbox).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, TypeVar
from uuid import uuid4

from driftloop_contracts import (
    Event,
    ExperimentCompleted,
    ExperimentStatus,
    TrialRequested,
)
from driftloop_runtime import Transaction

from . import priors, store, trial_store
from .experiments import (
    Ask,
    Finish,
    TrialState,
    next_configs,
    next_step,
    trials_run,
)
from .knowledge import plan_seeding
from .search import Observation
from .store import ExperimentRow
from .trial_store import TrialRow

logger = logging.getLogger("driftloop.scheduler")
EventT = TypeVar("EventT", bound=Event)


def effect(cause: Event | None, kind: type[EventT], **fields: Any) -> EventT:
    """An event caused by ``cause`` (chained ids), or by the clock when None."""
    return cause.then(kind, **fields) if cause is not None else kind(**fields)


async def advance(tx: Transaction, experiment_id: str, cause: Event | None) -> None:
    experiment = await store.lock_experiment(tx.conn, experiment_id)
    if experiment is None:
        logger.info("experiment %s: unknown here; nothing to advance", experiment_id)
        return
    await advance_locked(tx, experiment, cause)


async def advance_locked(tx: Transaction, experiment: ExperimentRow, cause: Event | None) -> None:
    rows = await trial_store.trials(tx.conn, experiment.id)
    spec = experiment.spec
    step = next_step(
        experiment.status,
        [row.state for row in rows],
        budget_trials=experiment.budget_trials,
        parallel=spec.budget.parallel,
        wall_expired=experiment.wall_expired,
        metric=spec.objective.metric,
        direction=spec.objective.direction,
    )
    match step:
        case Ask(n=n):
            await _ask(tx, experiment, rows, n, cause)
        case Finish(status=status, best=found, reason=reason):
            await finish(tx, experiment, rows, status, reason, found, cause)
        case _:
            logger.debug("experiment %s: waits: %s", experiment.id, step)


async def _ask(
    tx: Transaction, experiment: ExperimentRow, rows: list[TrialRow], n: int, cause: Event | None
) -> None:
    spec, conn = experiment.spec, tx.conn
    assert experiment.snapshot_hash is not None, "a running experiment has its snapshot"
    metric = spec.objective.metric
    meta = await priors.snapshot_meta(conn, experiment.snapshot_hash)
    found = await priors.prior_experiments(conn, experiment.id, metric)
    done = [
        Observation(row.config, score)
        for row in rows
        if (score := row.state.score(metric)) is not None
    ]
    # A failed configuration counts as pending: the optimiser steers away from asking it
    # again, without a score that would pretend it was measured.
    pending = [row.config for row in rows if row.state.status in ("requested", "failed")]
    seeded = frozenset(row.seeded_from for row in rows if row.seeded_from)
    try:
        seeding = await asyncio.to_thread(plan_seeding, spec, meta, found)
        configs = await asyncio.to_thread(
            next_configs, spec, seeding, done=done, pending=pending, seeded=seeded, n=n
        )
    except Exception as exc:
        # Pure code fails the same way every time: retrying the event would stall the
        # consumer, so the experiment fails instead, saying why.
        logger.exception("experiment %s: the search failed", experiment.id)
        status, why = ExperimentStatus.FAILED, f"the search failed: {exc!r}"
        await finish(tx, experiment, rows, status, why, None, cause)
        return
    timeout = spec.budget.per_trial_timeout.total_seconds()
    for offset, (config, seeded_from) in enumerate(configs):
        number, trial_id = len(rows) + offset, str(uuid4())
        seed = spec.seed + number
        await trial_store.insert_trial(
            conn, trial_id, experiment.id, number, config, seed, timeout, seeded_from
        )
        request = effect(
            cause,
            TrialRequested,
            stream=experiment.stream,
            experiment_id=experiment.id,
            trial_id=trial_id,
            snapshot_hash=experiment.snapshot_hash,
            family=config.family,
            params=config.params,
            seed=seed,
            timeout_seconds=timeout,
        )
        tx.emit(request, key=trial_id)
        origin = f"seeded from trial {seeded_from}" if seeded_from else "searched"
        logger.info(
            "experiment %s: trial #%d %s requested: %s %s (%s)",
            experiment.id,
            number,
            trial_id,
            config.family,
            config.params,
            origin,
        )


async def finish(
    tx: Transaction,
    experiment: ExperimentRow,
    rows: list[TrialRow],
    status: ExperimentStatus,
    reason: str,
    found: TrialState | None,
    cause: Event | None,
) -> None:
    await store.finish(
        tx.conn, experiment.id, status, reason, best_trial_id=found.id if found else None
    )
    metrics = {
        name: float(value)
        for name, value in (found.metrics if found else {}).items()
        if isinstance(value, int | float) and not isinstance(value, bool)
    }
    completed = effect(
        cause,
        ExperimentCompleted,
        stream=experiment.stream,
        experiment_id=experiment.id,
        status=status,
        best_trial_id=found.id if found else None,
        best_metrics=metrics,
        snapshot_hash=experiment.snapshot_hash,
        trials_run=trials_run([row.state for row in rows]),
        reason=reason,
    )
    tx.emit(completed, key=experiment.stream)
    logger.info("experiment %s: %s: %s", experiment.id, status.value, reason)
