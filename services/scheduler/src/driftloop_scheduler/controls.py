"""What a person or the clock does to a running experiment, inside one outbox
transaction: pause, resume or stop it, and re-queue or fail a trial past its deadline.

The experiment's row is locked first, as for every step that moves it on.
"""

from __future__ import annotations

import dataclasses
import logging

from driftloop_contracts import ExperimentControlRequested, ExperimentStatus, TrialRequested
from driftloop_runtime import Transaction

from . import store, trial_store
from .experiments import GiveUp, Requeue, best, control, timed_out
from .progress import advance_locked, finish

logger = logging.getLogger("driftloop.scheduler")


async def obey(tx: Transaction, event: ExperimentControlRequested) -> None:
    """Pause, resume or stop, as a person asked; a request that does not apply is logged."""
    experiment = await store.lock_experiment(tx.conn, event.experiment_id)
    if experiment is None or experiment.stream != event.stream:
        logger.warning(
            "experiment %s: %s refused: no such experiment of stream %s",
            event.experiment_id,
            event.action.value,
            event.stream,
        )
        return
    outcome = control(experiment.status, event.action)
    by = f"{event.requested_by}" + (f": {event.reason}" if event.reason else "")
    if outcome.to is None:
        logger.info(
            "experiment %s: %s by %s refused: %s",
            experiment.id,
            event.action.value,
            by,
            outcome.reason,
        )
        return
    logger.info("experiment %s: %s by %s", experiment.id, outcome.reason, by)
    if outcome.to == ExperimentStatus.STOPPED:
        rows = await trial_store.trials(tx.conn, experiment.id)
        spec = experiment.spec
        found = best([r.state for r in rows], spec.objective.metric, spec.objective.direction)
        reason = f"stopped by {by}"
        await finish(tx, experiment, rows, ExperimentStatus.STOPPED, reason, found, event)
        return
    await store.set_status(tx.conn, experiment.id, outcome.to)
    if outcome.to == ExperimentStatus.RUNNING:
        await advance_locked(tx, dataclasses.replace(experiment, status=outcome.to), event)


async def time_out(tx: Transaction, trial_id: str, experiment_id: str) -> None:
    """Re-queue a trial past its deadline once (attempt 2, same id), then fail it."""
    experiment = await store.lock_experiment(tx.conn, experiment_id)
    if experiment is None or experiment.status not in (
        ExperimentStatus.RUNNING,
        ExperimentStatus.PAUSED,
    ):
        return
    trial = await trial_store.overdue_trial(tx.conn, trial_id)
    if trial is None:  # it ended, or was re-queued, since it was found overdue
        return
    timeout = experiment.spec.budget.per_trial_timeout.total_seconds()
    match timed_out(trial.attempt, timeout):
        case Requeue(attempt=attempt):
            await trial_store.requeue_trial(tx.conn, trial_id, attempt, timeout)
            assert experiment.snapshot_hash is not None
            request = TrialRequested(
                stream=experiment.stream,
                experiment_id=experiment.id,
                trial_id=trial_id,
                snapshot_hash=experiment.snapshot_hash,
                family=trial.config.family,
                params=trial.config.params,
                seed=trial.seed,
                attempt=attempt,
                timeout_seconds=timeout,
            )
            tx.emit(request, key=trial_id)
            logger.info(
                "experiment %s: trial #%d %s timed out after %gs; requested again (attempt %d)",
                experiment.id,
                trial.state.number,
                trial_id,
                timeout,
                attempt,
            )
        case GiveUp(error=error):
            await trial_store.fail_trial(tx.conn, trial_id, error)
            logger.info(
                "experiment %s: trial #%d %s failed: %s",
                experiment.id,
                trial.state.number,
                trial_id,
                error,
            )
            await advance_locked(tx, experiment, None)
