"""The admin HTTP API, write side: what a person asks the loop to do, recorded with who and why.

Each action writes its ``human_actions`` row and its event in one transaction (the
outbox), so the audit trail and the request cannot disagree: the event is published once
committed, or by the outbox sweep after a crash. The services that own the outcome act on
the event (the scheduler on experiments, evaluation on approvals and rollbacks); pins are
serving's own rows and change at once.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Path
from pydantic import BaseModel, Field

from driftloop_contracts import (
    ApprovalGiven,
    ControlAction,
    ExperimentControlRequested,
    ExperimentRequested,
    RollbackRequested,
    StreamName,
    Trigger,
)
from driftloop_runtime import Outbox
from driftloop_spec import SpecError, parse_spec
from driftloop_store import current_champion, record_human_action

from . import admin_store
from .admin_auth import actor
from .rules import Problem
from .service import Serving
from .validation import Invalid, Text

Who = Annotated[str, Depends(actor)]
Stream = Annotated[str, Path(pattern=r"^[a-z][a-z0-9_]{0,62}$")]
FINISHED = ("completed", "stopped", "failed")


class Reason(BaseModel):
    reason: Text = Field(default="", max_length=2000, description="Why, for the audit trail.")


class ExperimentIn(Reason):
    stream: StreamName
    spec: Text | None = Field(default=None, description="Spec text (YAML or TOML) to use instead.")


class RollbackIn(Reason):
    to_version: int | None = Field(default=None, ge=1, description="Default: the previous one.")


class PinIn(Reason):
    model_id: Text | None = Field(default=None, description="Default: the current champion.")


def add_actions(router: APIRouter, serving: Serving, outbox: Outbox) -> None:
    metrics = serving.metrics

    def done(action: str) -> None:
        metrics.admin.labels(action, "accepted").inc()

    @router.post("/experiments", status_code=202, summary="Ask for an experiment now")
    async def request_experiment(body: ExperimentIn, who: Who) -> dict[str, Any]:
        if body.spec is not None:
            check_spec(body.spec, body.stream)
        event = ExperimentRequested(
            stream=body.stream,
            trigger=Trigger.MANUAL,
            requested_by=who,
            reason=body.reason,
            spec=body.spec,
        )
        experiment_id = str(event.event_id)
        async with outbox.transaction() as tx:
            if not await admin_store.stream_exists(tx.conn, body.stream):
                raise HTTPException(404, detail=f"no stream {body.stream}")
            payload = {"experiment_id": experiment_id, "spec": body.spec is not None}
            await record_human_action(
                tx.conn, who, "experiment.request", "stream", body.stream, body.reason, payload
            )
            tx.emit(event, key=body.stream)
        done("experiment.request")
        return {"experiment_id": experiment_id}

    @router.post(
        "/experiments/{experiment_id}/{action}", status_code=202, summary="Pause, resume or stop"
    )
    async def control(
        experiment_id: Text, action: ControlAction, who: Who, body: Reason | None = None
    ) -> dict[str, Any]:
        reason = body.reason if body else ""
        async with outbox.transaction() as tx:
            found = await admin_store.experiment(tx.conn, experiment_id)
            if found is None:
                raise HTTPException(404, detail=f"no experiment {experiment_id}")
            if found["status"] in FINISHED:
                raise HTTPException(409, detail=f"experiment {experiment_id} is {found['status']}")
            event = ExperimentControlRequested(
                stream=found["stream"],
                experiment_id=experiment_id,
                action=action,
                requested_by=who,
                reason=reason,
            )
            name = f"experiment.{action.value}"
            await record_human_action(tx.conn, who, name, "experiment", experiment_id, reason)
            tx.emit(event, key=found["stream"])
        done(name)
        return {
            "experiment_id": experiment_id,
            "action": action.value,
            "event_id": str(event.event_id),
        }

    @router.post("/decisions/{decision_id}/{verdict}", status_code=202, summary="Approve or reject")
    async def decide(
        decision_id: Text,
        verdict: Literal["approve", "reject"],
        who: Who,
        body: Reason | None = None,
    ) -> dict[str, Any]:
        reason = body.reason if body else ""
        async with outbox.transaction() as tx:
            found = await admin_store.decision(tx.conn, decision_id)
            if found is None:
                raise HTTPException(404, detail=f"no decision {decision_id}")
            if found["status"] != "pending":
                raise HTTPException(409, detail=f"decision {decision_id} is {found['status']}")
            event = ApprovalGiven(
                stream=found["stream"],
                model_id=found["model_id"],
                decision_id=decision_id,
                approved=verdict == "approve",
                actor=who,
                reason=reason,
            )
            payload = {"model_id": found["model_id"]}
            name = f"decision.{verdict}"
            await record_human_action(tx.conn, who, name, "decision", decision_id, reason, payload)
            tx.emit(event, key=found["stream"])
        done(name)
        return {
            "decision_id": decision_id,
            "approved": event.approved,
            "event_id": str(event.event_id),
        }

    @router.post("/streams/{stream}/rollback", status_code=202, summary="Serve an earlier model")
    async def rollback(stream: Stream, who: Who, body: RollbackIn | None = None) -> dict[str, Any]:
        body = body or RollbackIn()
        async with outbox.transaction() as tx:
            if not await admin_store.stream_exists(tx.conn, stream):
                raise HTTPException(404, detail=f"no stream {stream}")
            version = body.to_version
            if version is not None and not await admin_store.model_of(
                tx.conn, stream, version=version
            ):
                raise HTTPException(404, detail=f"stream {stream} has no model version {version}")
            event = RollbackRequested(
                stream=stream, to_version=version, actor=who, reason=body.reason
            )
            payload = {"to_version": version}
            await record_human_action(
                tx.conn, who, "stream.rollback", "stream", stream, body.reason, payload
            )
            tx.emit(event, key=stream)
        done("stream.rollback")
        return {"stream": stream, "to_version": version, "event_id": str(event.event_id)}

    @router.post(
        "/streams/{stream}/pin", summary="Keep the stream's model: no promotion replaces it"
    )
    async def pin(stream: Stream, who: Who, body: PinIn | None = None) -> dict[str, Any]:
        body = body or PinIn()
        async with serving.resources.pool.connection() as conn, conn.transaction():
            if not await admin_store.stream_exists(conn, stream):
                raise HTTPException(404, detail=f"no stream {stream}")
            model_id = body.model_id
            if model_id is None:
                serving_row = await current_champion(conn, stream)
                if serving_row is None:
                    raise HTTPException(409, detail=f"no model serves {stream}: give model_id")
                model_id = serving_row.model_id
            if not await admin_store.model_of(conn, stream, model_id=model_id):
                raise HTTPException(404, detail=f"stream {stream} has no model {model_id}")
            pinned = await admin_store.pin(conn, stream, model_id, who)
            payload = {"model_id": model_id}
            await record_human_action(
                conn, who, "stream.pin", "stream", stream, body.reason, payload
            )
        done("stream.pin")
        return pinned

    @router.delete("/streams/{stream}/pin", summary="Let promotions replace the model again")
    async def unpin(stream: Stream, who: Who, body: Reason | None = None) -> dict[str, Any]:
        reason = body.reason if body else ""
        async with serving.resources.pool.connection() as conn, conn.transaction():
            removed = await admin_store.unpin(conn, stream)
            if removed is None:
                raise HTTPException(404, detail=f"stream {stream} is not pinned")
            payload = {"model_id": removed["model_id"]}
            await record_human_action(conn, who, "stream.unpin", "stream", stream, reason, payload)
        done("stream.unpin")
        return removed


def check_spec(text: str, stream: str) -> None:
    """Refuse a spec override that is invalid (YAML, else TOML) or for another stream."""
    try:
        spec = parse_spec(text, "yaml")
    except SpecError as as_yaml:
        try:
            spec = parse_spec(text, "toml")
        except SpecError:
            raise Invalid(Problem("spec", "; ".join(as_yaml.lines()[:5]))) from None
    if spec.stream != stream:
        raise Invalid(Problem("spec", f"is for stream {spec.stream}, not {stream}"))
