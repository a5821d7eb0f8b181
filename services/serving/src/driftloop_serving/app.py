"""The serving service: a FastAPI app with a Kafka subscriber for promotions.

On start it opens the store, subscribes to promotions, then reads the current
champions from the store, so a promotion made while it was down is not missed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, HTTPException
from fastapi.responses import JSONResponse

from driftloop_runtime import Resources, check_health, configure_logging, create_broker

from .champions import Champion, Champions
from .handlers import create_router
from .settings import Settings
from .store import current_champions


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    broker = create_broker(settings)
    resources = Resources(settings)
    champions = Champions()
    broker.include_router(create_router(champions))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_logging(settings)
        await resources.start()
        try:
            await broker.start()
            async with resources.pool.connection() as conn:
                for champion in await current_champions(conn):
                    champions.offer(champion)
            yield
        finally:
            await broker.stop()
            await resources.stop()

    app = FastAPI(title="driftloop serving", version="0.1.0", lifespan=lifespan)
    app.state.broker = broker
    app.state.champions = champions

    @app.get("/health", summary="Kafka and PostgreSQL reachable")
    async def health() -> JSONResponse:
        status, body = await check_health(broker, resources)
        return JSONResponse(body, status_code=status)

    @app.get("/live", status_code=204, summary="The process answers (liveness probe)")
    async def live() -> None:
        return None

    @app.get("/ready", summary="Ready once a model serves at least one stream")
    async def ready() -> JSONResponse:
        count = len(champions.all())
        return JSONResponse(
            {"ready": count > 0, "streams": count}, status_code=200 if count else 503
        )

    @app.get("/models/current", summary="The model serving each stream")
    async def models_current(stream: str | None = None) -> list[dict[str, Any]]:
        chosen = champions.all() if stream is None else [c for c in [champions.get(stream)] if c]
        if stream is not None and not chosen:
            raise HTTPException(404, detail=f"no model serves stream {stream!r} yet")
        return [_describe(c) for c in chosen]

    return app


def _describe(champion: Champion) -> dict[str, Any]:
    return {
        "stream": champion.stream,
        "model_id": champion.model_id,
        "version": champion.version,
        "artifact_sha256": champion.artifact_sha256,
        "since": champion.since.isoformat(),
        "serving_id": champion.serving_id,
    }
