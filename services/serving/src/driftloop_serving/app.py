"""The serving service: a FastAPI app with a Kafka subscriber for promotions.

On start it opens the store, reads the streams and loads the champion of each from the
store, then subscribes to promotions (every replica reads them all, from the start of the
log, so one made while it was starting is not missed). On stop it drains: uvicorn finishes
the requests in flight, then online models are checkpointed and the prediction log flushed.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from threadpoolctl import threadpool_limits

from driftloop_contracts import (
    ApprovalGiven,
    ExperimentControlRequested,
    ExperimentRequested,
    RollbackRequested,
)
from driftloop_runtime import Outbox, Resources, configure_logging, create_broker

from . import problems
from .admin import create_admin
from .admin_auth import AdminGate
from .fastpath import PredictEndpoint, ServingApp
from .handlers import create_router
from .middleware import BodyLimit, RequestMetrics
from .routes import create_api
from .service import Serving
from .settings import Settings

ADMIN_TOPICS = tuple(
    e.topic
    for e in (ExperimentRequested, ExperimentControlRequested, ApprovalGiven, RollbackRequested)
)


def create_app(settings: Settings | None = None) -> ServingApp:
    settings = settings or Settings()
    broker = create_broker(settings)
    resources = Resources(settings)
    serving = Serving(resources, broker)
    broker.include_router(create_router(serving.champions, serving.appoint))

    async def send(topic: str, key: bytes | None, payload: dict[str, Any]) -> None:
        await broker.publish(payload, topic, key=key)

    outbox = Outbox(resources, send, ADMIN_TOPICS)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_logging(settings)
        # Models predict on the event loop: OpenMP's thread per core made one-row boosted-tree
        # predictions stall for seconds on a busy machine (p95 423 ms vs 14.5 ms on one thread).
        threadpool_limits(limits=1)
        await resources.start()
        try:
            await serving.start_store()
            await broker.start()
            await serving.start()
            sweeper = asyncio.create_task(outbox.run_sweeper())
            try:
                yield
            finally:
                sweeper.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await sweeper
                await serving.stop()
        finally:
            await broker.stop()
            await resources.stop()

    app = ServingApp(
        title="driftloop serving",
        version="0.1.0",
        description="Predictions from each stream's champion, feedback, and the admin API.",
        lifespan=lifespan,
    )
    app.state.broker = broker
    app.state.serving = serving
    app.state.champions = serving.champions
    problems.install(app)
    app.include_router(create_api(serving))
    app.include_router(create_admin(serving, outbox))
    # Outermost last: metrics see every answer, the gate and the limit run before routing.
    # POST /predict is answered before all of them, and does its own of each.
    app.add_middleware(AdminGate, token=settings.admin_token, metrics=serving.metrics)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(RequestMetrics, metrics=serving.metrics)
    app.predict_endpoint = PredictEndpoint(serving, serving.metrics, settings.max_body_bytes)
    return app
