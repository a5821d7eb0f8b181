"""People's answers: approving or rejecting a pending promotion, and rolling back.

Both arrive as events from the admin API (which records the human action) and are
applied here, where serving history is written, under the stream's lock.
"""

from __future__ import annotations

import logging

from driftloop_contracts import ApprovalGiven, PromotionReason, RollbackRequested
from driftloop_store import first_handling

from . import ledger, notices, store
from .promotion import approval_blocker, rollback_problem
from .service import CONSUMER, Evaluation, Notes, stream_spec

logger = logging.getLogger("driftloop.evaluation")


async def on_approval(ev: Evaluation, event: ApprovalGiven, notes: Notes) -> None:
    async with ev.outbox.transaction() as tx:
        conn = tx.conn
        if not await first_handling(conn, CONSUMER, str(event.event_id)):
            return
        if not await store.lock_stream(conn, event.stream):
            logger.warning("approval of %s: no stream %s; ignored", event.decision_id, event.stream)
            return
        decision = await ledger.decision(conn, event.decision_id)
        if decision is None or (decision.stream, decision.model_id) != (
            event.stream,
            event.model_id,
        ):
            logger.warning(
                "approval of %s for model %s on %s names no such decision; ignored",
                *(event.decision_id, event.model_id, event.stream),
            )
            return
        if decision.status != "pending":
            logger.info("decision %s is %s, not pending; ignored", decision.id, decision.status)
            return
        said = f"{'approved' if event.approved else 'rejected'} by {event.actor}"
        said += f" ({event.reason})" if event.reason else ""
        if not event.approved:
            await ledger.settle(
                conn, decision.id, "rejected", event.actor, f"{decision.reason}; {said}"
            )
            logger.info("decision %s %s", decision.id, said)
            return
        serving = await store.champion(conn, event.stream)
        model = await store.model(conn, decision.model_id)
        blocker = approval_blocker(
            decision.model_id,
            compared_with=decision.champion_id,
            serving=serving.id if serving else None,
            pin=await store.pin(conn, event.stream),
        )
        if blocker is None and (
            model is None or not await store.artifact_intact(conn, model.artifact_sha256)
        ):
            blocker = "its artifact is missing or no longer matches its hash"
        if blocker is not None:
            said += f"; not promoted: {blocker}"
        await ledger.settle(
            conn, decision.id, "approved", event.actor, f"{decision.reason}; {said}"
        )
        spec = await stream_spec(tx, event.stream)
        if blocker is not None or model is None:
            what = f"approved candidate {decision.model_id} not promoted: {blocker}"
            notes.add(notices.failure(event, event.stream, what), spec)
            return
        promoted = await ev.appoint(
            tx,
            event,
            model,
            PromotionReason.APPROVAL,
            actor=event.actor,
            decision_id=decision.id,
            experiment_id=decision.experiment_id,
        )
        notes.add(notices.promoted(promoted), spec)


async def on_rollback(ev: Evaluation, event: RollbackRequested, notes: Notes) -> None:
    async with ev.outbox.transaction() as tx:
        conn = tx.conn
        if not await first_handling(conn, CONSUMER, str(event.event_id)):
            return
        if not await store.lock_stream(conn, event.stream):
            logger.warning("rollback of %s: no such stream; ignored", event.stream)
            return
        serving = await store.champion(conn, event.stream)
        current = serving.id if serving else None
        target = (
            await store.model_by_version(conn, event.stream, event.to_version)
            if event.to_version is not None
            else await store.previous_model(conn, event.stream, current)
        )
        if target is not None and target.id == current:
            logger.info("rollback of %s: v%d serves already", event.stream, target.version)
            return
        problem = rollback_problem(
            target.id if target else None,
            to_version=event.to_version,
            pin=await store.pin(conn, event.stream),
        )
        if (
            problem is None
            and target
            and not await store.artifact_intact(conn, target.artifact_sha256)
        ):
            problem = f"model v{target.version}'s artifact is missing or no longer matches its hash"
        spec = await stream_spec(tx, event.stream)
        if problem is not None or target is None:
            what = f"rollback requested by {event.actor} not done: {problem}"
            logger.warning("stream %s: %s", event.stream, what)
            notes.add(notices.failure(event, event.stream, what), spec)
            return
        promoted = await ev.appoint(
            tx,
            event,
            target,
            PromotionReason.ROLLBACK,
            actor=event.actor,
            decision_id=None,
            experiment_id=None,
        )
        notes.add(notices.promoted(promoted), spec)
