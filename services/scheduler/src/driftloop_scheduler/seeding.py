"""The knowledge a starting experiment reads, and the ``experiment_seeds`` rows that
record it: archived models re-scored on the new snapshot's holdout (the best judged
against the champion), and the prior trials that seed the search."""

from __future__ import annotations

import asyncio
import logging

from driftloop_runtime import Transaction
from driftloop_spec import ExperimentSpec
from driftloop_store import current_champion

from . import priors
from .knowledge import Seeding
from .rescore import Rescoring, rescore
from .settings import Settings
from .snapshot import Snapshot, holdout_of

logger = logging.getLogger("driftloop.scheduler")


async def rescore_archived(
    tx: Transaction,
    settings: Settings,
    eid: str,
    stream: str,
    spec: ExperimentSpec,
    snapshot: Snapshot,
    *,
    record: bool = True,
) -> Rescoring | None:
    """Archived models re-scored on the snapshot's holdout, recorded as seeds; with
    ``record`` False (a look while the experiment waits for labels), recorded only if one
    passes, since that snapshot then becomes the experiment's."""
    if not spec.seeding.rescore_archived or settings.rescore_limit == 0:
        return None
    champion = await current_champion(tx.conn, stream)
    champion_id = champion.model_id if champion else None
    archived = await priors.archived_models(tx.conn, stream, champion_id, settings.rescore_limit)
    if not archived:
        return None
    champion_artifact = await priors.model_artifact(tx.conn, champion_id) if champion_id else None
    holdout = holdout_of(spec, snapshot.data)
    artifacts = [model.artifact for model in archived]
    try:
        result = await asyncio.to_thread(rescore, spec, holdout, artifacts, champion_artifact)
    except Exception:
        # Pure code fails the same way every time: the experiment goes on without it.
        logger.exception("experiment %s: re-scoring archived models failed", eid)
        return None
    for model_id, why in result.skipped:
        logger.warning("experiment %s: archived model %s skipped: %s", eid, model_id, why)
    by_id = {model.artifact.model_id: model for model in archived}
    gate = result.gate
    judged = (
        {}
        if gate is None
        else {
            "gate": {
                "passed": gate.passed,
                "test": gate.test,
                "p_value": gate.p_value,
                "champion": champion_id,
                "champion_score": gate.champion_score,
                "reason": gate.reason,
            }
        }
    )
    seeds = [
        priors.Seed(
            "rescored_model",
            model_id,
            by_id[model_id].experiment_id,
            None,
            score,
            {
                "rank": rank,
                "version": by_id[model_id].version,
                "holdout_rows": len(holdout),
                **(judged if rank == 1 else {}),  # only the best is judged
            },
        )
        for rank, (model_id, score) in enumerate(result.scores, start=1)
    ]
    if record or result.winner is not None:
        await priors.record_seeds(tx.conn, eid, seeds)
    logger.info(
        "experiment %s: re-scored %d archived models on %d holdout rows: %s",
        eid,
        len(result.scores),
        len(holdout),
        result.reason,
    )
    return result


def prior_seeds(seeding: Seeding) -> list[priors.Seed]:
    return [
        priors.Seed(s.kind, s.trial_id, s.experiment_id, s.distance, s.score, {})
        for s in seeding.sources
    ]
