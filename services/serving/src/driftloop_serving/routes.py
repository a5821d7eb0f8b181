"""The public HTTP API: predictions, feedback, the serving models, health and metrics.

``/predict`` and ``/feedback`` read the raw body and validate it with the stream's
compiled validator (FastAPI's per-route pydantic model cannot depend on the stream); the
models below only document the shapes in the OpenAPI schema.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import BaseModel, Field
from pydantic_core import to_json

from driftloop_runtime import check_health

from .champions import Champion
from .problems import ProblemOut
from .service import Serving

Scalar = float | int | str | bool | None


class PredictIn(BaseModel):
    """One record (``features``, optional ``record_id``) or a batch (``records``)."""

    stream: str
    record_id: str | None = Field(default=None, description="Made up (uuid4) when absent.")
    features: dict[str, Scalar] | None = None
    records: list[dict[str, Any]] | None = Field(
        default=None, description='A batch: [{"record_id"?, "features"}, ...]'
    )


class PredictionOut(BaseModel):
    stream: str
    record_id: str
    prediction: Scalar
    probability: dict[str, float] | None = Field(default=None, description="Per class.")
    model_id: str
    model_version: int


class FeedbackIn(BaseModel):
    """One label (``record_id``, ``label``) or a batch (``labels``)."""

    stream: str
    record_id: str | None = None
    label: Scalar = None
    labels: list[dict[str, Any]] | None = Field(
        default=None, description='A batch: [{"record_id", "label"}, ...]'
    )


def _body(model: type[BaseModel]) -> dict[str, Any]:
    schema = {"content": {"application/json": {"schema": model.model_json_schema()}}}
    return {"requestBody": {"required": True, **schema}}


REFUSALS: dict[int | str, dict[str, Any]] = {
    code: {"model": ProblemOut} for code in (400, 413, 422, 503)
}


def create_api(serving: Serving) -> APIRouter:
    api = APIRouter()

    @api.post(
        "/predict",
        summary="Score one record or a batch with the stream's champion",
        openapi_extra=_body(PredictIn),
        responses={200: {"model": PredictionOut}, **REFUSALS},
    )
    async def predict(request: Request) -> Response:
        result = await serving.predict(await request.body())
        return Response(to_json(result), media_type="application/json")

    @api.post(
        "/feedback",
        status_code=202,
        summary="True labels of scored records, by record id",
        openapi_extra=_body(FeedbackIn),
        responses=REFUSALS,
    )
    async def feedback(request: Request) -> dict[str, Any]:
        return await serving.feedback(await request.body())

    @api.get("/models/current", summary="The model serving each stream")
    async def models_current(stream: str | None = None) -> list[dict[str, Any]]:
        champions = serving.champions
        chosen = champions.all() if stream is None else [c for c in [champions.get(stream)] if c]
        if stream is not None and not chosen:
            raise HTTPException(404, detail=f"no model serves stream {stream!r} yet")
        return [describe(c) for c in chosen]

    @api.get("/health", summary="Kafka and PostgreSQL reachable")
    async def health() -> JSONResponse:
        status, body = await check_health(serving.broker, serving.resources)
        return JSONResponse(body, status_code=status)

    @api.get("/live", status_code=204, summary="The process answers (liveness probe)")
    async def live() -> None:
        return None

    @api.get("/ready", summary="Ready once a loaded model serves at least one stream")
    async def ready() -> JSONResponse:
        count = len(serving.champions.all())
        return JSONResponse(
            {"ready": count > 0, "streams": count}, status_code=200 if count else 503
        )

    @api.get("/metrics", summary="Prometheus metrics", response_class=Response)
    async def metrics() -> Response:
        serving.metrics.log_queued.set(len(serving.log))
        return Response(serving.metrics.render(), media_type=CONTENT_TYPE_LATEST)

    return api


def describe(champion: Champion) -> dict[str, Any]:
    described: dict[str, Any] = {
        "stream": champion.stream,
        "model_id": champion.model_id,
        "version": champion.version,
        "artifact_sha256": champion.artifact_sha256,
        "since": champion.since.isoformat(),
        "serving_id": champion.serving_id,
    }
    if champion.online is not None:
        described["learned"] = champion.online.learned
    return described
