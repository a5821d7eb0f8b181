"""The admin HTTP API, read side: streams, experiments, trials, models and decisions.

Every route needs the admin token (``admin_auth``); the actions people take live in
``admin_actions`` and are mounted on the same router.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query

from driftloop_contracts import ExperimentStatus
from driftloop_runtime import Outbox

from . import admin_store
from .admin_actions import add_actions
from .admin_auth import require_token
from .service import Serving
from .validation import Text

Limit = Annotated[int, Query(ge=1, le=1000, description="At most this many, newest first.")]
DecisionStatus = Literal["pending", "approved", "rejected", "final"]
Rows = list[dict[str, Any]]


def create_admin(serving: Serving, outbox: Outbox) -> APIRouter:
    router = APIRouter(
        prefix="/admin",
        tags=["admin"],
        dependencies=[Depends(require_token(serving.settings.admin_token))],
    )

    def connection() -> Any:
        return serving.resources.pool.connection()

    @router.get("/streams", summary="Registered streams, their champion and pin")
    async def streams() -> Rows:
        async with connection() as conn:
            return await admin_store.streams(conn)

    @router.get("/experiments", summary="Experiments, newest first")
    async def experiments(
        stream: Text | None = None, status: ExperimentStatus | None = None, limit: Limit = 100
    ) -> Rows:
        async with connection() as conn:
            return await admin_store.experiments(conn, stream, status, limit)

    @router.get("/experiments/{experiment_id}", summary="One experiment, with its trial counts")
    async def experiment(experiment_id: Text) -> dict[str, Any]:
        async with connection() as conn:
            found = await admin_store.experiment(conn, experiment_id)
        if found is None:
            raise HTTPException(404, detail=f"no experiment {experiment_id}")
        return found

    @router.get("/trials", summary="Trials, newest first")
    async def trials(experiment_id: Text | None = None, limit: Limit = 100) -> Rows:
        async with connection() as conn:
            return await admin_store.trials(conn, experiment_id, limit)

    @router.get("/models", summary="Models by stream, newest version first")
    async def models(stream: Text | None = None, limit: Limit = 100) -> Rows:
        async with connection() as conn:
            return await admin_store.models(conn, stream, limit)

    @router.get("/decisions", summary="Promotion decisions, newest first")
    async def decisions(
        stream: Text | None = None, status: DecisionStatus | None = None, limit: Limit = 100
    ) -> Rows:
        async with connection() as conn:
            return await admin_store.decisions(conn, stream, status, limit)

    add_actions(router, serving, outbox)
    return router
