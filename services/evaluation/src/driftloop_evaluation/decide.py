"""An experiment ended: judge its best candidate against the champion and record why.

The candidate is the best trial's model, or an archived model the experiment found
answering a recurring concept. It is judged on the experiment's holdout (or a fresh one
once that is spent), registered as the stream's next model version, and the decision
is recorded with every number; then it is promoted, sent for approval, or rejected.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from uuid import uuid4

from driftloop_contracts import (
    ApprovalRequested,
    ExperimentCompleted,
    ExperimentStatus,
    PromotionDecided,
    Verdict,
)
from driftloop_learn import HoldoutSize
from driftloop_runtime import Transaction
from driftloop_store import first_handling, get_artifact

from . import gate, holdout, ledger, notices, store
from .case import Case, gather
from .holdout import Holdout, Judged
from .service import CONSUMER, Evaluation, Notes, stream_spec

logger = logging.getLogger("driftloop.evaluation")


async def on_completed(ev: Evaluation, event: ExperimentCompleted, notes: Notes) -> None:
    async with ev.outbox.transaction() as tx:
        if not await first_handling(tx.conn, CONSUMER, str(event.event_id)):
            return
        if not await store.lock_stream(tx.conn, event.stream):
            logger.warning("experiment %s: no stream %s", event.experiment_id, event.stream)
        elif event.status != ExperimentStatus.COMPLETED:
            await _ended(tx, event, notes)
        elif await ledger.already_decided(tx.conn, event.experiment_id):
            logger.info("experiment %s was decided already; ignored", event.experiment_id)
        elif (case := await gather(tx, event, notes)) is not None:
            used, judgement, reason = await _judge(ev, tx, event.stream, case)
            await _record(ev, tx, event, case, used, judgement, reason, notes)


async def _ended(tx: Transaction, event: ExperimentCompleted, notes: Notes) -> None:
    """Stopped by a person (nothing to decide) or failed (people are told)."""
    logger.info("experiment %s %s: %s", event.experiment_id, event.status.value, event.reason)
    if event.status == ExperimentStatus.FAILED:
        what = f"experiment {event.experiment_id} failed: {event.reason or 'no reason given'}"
        spec = await stream_spec(tx, event.stream)
        notes.add(notices.failure(event, event.stream, what), spec)


async def _judge(
    ev: Evaluation, tx: Transaction, stream: str, case: Case
) -> tuple[Holdout, gate.Judgement, str]:
    """The holdout the decision is recorded on, the judgement, and its full reason."""
    spec, cand, champ = case.spec, case.candidate, case.champion
    policy = gate.Policy.of(spec)
    size = HoldoutSize(spec.holdout.fraction, spec.holdout.count)
    through = [
        holdout.trained_through(case.snapshot, size) if cand.model is None else None,
        await ev.trained_through(tx, cand.model.id) if cand.model is not None else None,
        await ev.trained_through(tx, champ.id) if champ is not None else None,
    ]
    cut = max((t for t in through if t is not None), default=None)
    base = holdout.of_snapshot(case.snapshot, case.snapshot_hash, size)
    base = replace(base, uses=await ledger.holdout_uses(tx.conn, base.hash))
    picked = await _holdout(tx, stream, case, base, cut)
    if not isinstance(picked, Judged):
        used, why = picked
        how = gate.promotion_reason(first=champ is None, recurring=cand.recurring)
        return used, gate.refused(policy, why, how, cand.score, failed=False), why
    judgement = await asyncio.to_thread(
        gate.judge,
        policy,
        picked.rows,
        await _artifact(tx, cand.artifact_sha256),
        await _artifact(tx, champ.artifact_sha256) if champ else None,
        pinned=case.pin.blocks(cand.model.id if cand.model else "") if case.pin else None,
        recurring=cand.recurring,
        score=cand.score,
    )
    reason = f"{judgement.reason} ({picked.note})" if judgement.looked else judgement.reason
    return picked.holdout, judgement, reason


async def _record(
    ev: Evaluation,
    tx: Transaction,
    event: ExperimentCompleted,
    case: Case,
    used: Holdout,
    judgement: gate.Judgement,
    reason: str,
    notes: Notes,
) -> None:
    """Register the candidate, record the decision, and act on it."""
    conn, cand, champ, spec = tx.conn, case.candidate, case.champion, case.spec
    await ledger.save_holdout(conn, event.stream, used, looked=judgement.looked)
    model = cand.model
    if model is None:
        assert cand.trial is not None, "a candidate is a trial's model or a registered one"
        model = await store.register_model(conn, event.stream, cand.trial)
    result, decision_id = judgement.result, str(uuid4())
    decided = event.then(
        PromotionDecided,
        model_id=model.id,
        champion_id=champ.id if champ else None,
        verdict=judgement.verdict,
        metric=result.metric,
        candidate_score=result.candidate_score,
        champion_score=result.champion_score,
        test=result.test,
        statistic=result.statistic,
        p_value=result.p_value,
        alpha=spec.promotion.alpha,
        min_gain=spec.promotion.min_gain,
        holdout_hash=used.hash,
        reason=reason,
    )
    pending = judgement.verdict == Verdict.AWAIT_APPROVAL
    await ledger.record_decision(conn, decision_id, decided, "pending" if pending else "final")
    tx.emit(decided, key=event.stream)
    logger.info(
        "stream %s: candidate %s v%d %s: %s",
        *(event.stream, model.id, model.version, judgement.verdict.value, reason),
    )
    if judgement.verdict == Verdict.PROMOTE:
        promoted = await ev.appoint(
            tx,
            decided,
            model,
            judgement.promotion,
            actor=CONSUMER,
            decision_id=decision_id,
            experiment_id=event.experiment_id,
        )
        notes.add(notices.promoted(promoted), spec)
    elif pending:
        tx.emit(decided.then(ApprovalRequested, decision_id=decision_id), key=event.stream)
        notes.add(notices.approval_needed(decided, decision_id), spec)
    if judgement.failed:
        what = f"candidate {model.id} v{model.version} rejected unjudged: {reason}"
        notes.add(notices.failure(decided, event.stream, what), spec)


async def _holdout(
    tx: Transaction, stream: str, case: Case, base: Holdout, cut: int | None
) -> Judged | tuple[Holdout, str]:
    """The rows to judge on; or the holdout to record and why no judgement can be made."""
    budget, least = case.spec.holdout.reuse_budget, holdout.least_rows(len(base.data))
    picked = holdout.judge_on(base, budget=budget, cut=cut, least=least)
    if isinstance(picked, Judged):
        return picked
    after = holdout.fresh_after(case.snapshot, case.window, cut)
    rows = await store.fresh_rows(tx.conn, stream, after, len(base.data))
    new = holdout.fresh(rows, after=after, replaces=base.hash)
    new = replace(new, uses=await ledger.holdout_uses(tx.conn, new.hash))
    second = holdout.judge_on(new, budget=budget, cut=cut, least=least)
    if isinstance(second, Judged):
        logger.info("stream %s: %s; judging on %d fresh records", stream, picked, len(new.data))
        return second
    return base, holdout.waiting(picked, f"fresh records: {second}")


async def _artifact(tx: Transaction, artifact_sha256: str) -> gate.Artifact:
    return gate.Artifact(artifact_sha256, await get_artifact(tx.conn, artifact_sha256))
