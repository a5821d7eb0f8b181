"""Journey: evaluation publishes a promotion; serving, a separate app, swaps to it.

Both run on the real embedded broker and a real PostgreSQL; serving runs under uvicorn.
"""

from __future__ import annotations

from typing import cast
from uuid import uuid4

import httpx
import psycopg
import pytest
from faststream.kafka import KafkaBroker
from pydantic import SecretStr

import driftloop_drift
import driftloop_evaluation
import driftloop_serving
from driftloop_contracts import ModelPromoted, PromotionReason
from driftloop_store import migrate, register_stream

from .helpers import eventually, running_server

pytestmark = pytest.mark.journey


async def test_serving_swaps_to_the_model_evaluation_promoted(
    kafka: str, database_url: str
) -> None:
    secret = SecretStr(database_url)
    serving = driftloop_serving.create_app(
        driftloop_serving.Settings(kafka_bootstrap_servers=kafka, database_url=secret)
    )
    evaluation = driftloop_evaluation.create_app(
        driftloop_evaluation.Settings(kafka_bootstrap_servers=kafka, database_url=secret)
    )
    stream = f"journey_{uuid4().hex[:8]}"  # a persistent broker may replay earlier runs
    promoted = ModelPromoted(
        stream=stream,
        model_id="m-1",
        version=1,
        artifact_sha256="c" * 64,
        serving_id=1,
        reason=PromotionReason.FIRST_MODEL,
    )

    async with running_server(serving) as url, httpx.AsyncClient(base_url=url) as client:
        assert (await client.get("/health")).json()["status"] == "ok"
        assert (await client.get("/ready")).status_code == 503
        assert (await client.get("/models/current", params={"stream": stream})).status_code == 404

        broker = cast(KafkaBroker, evaluation.brokers[0])
        await broker.start()
        try:
            await broker.publish(promoted, topic=ModelPromoted.topic)
        finally:
            await broker.stop()

        async def swapped() -> list[dict[str, object]] | None:
            response = await client.get("/models/current", params={"stream": stream})
            return response.json() if response.status_code == 200 else None

        current = await eventually(swapped, what="serving to take the promoted model")
        assert current[0]["model_id"] == "m-1" and current[0]["version"] == 1
        assert (await client.get("/ready")).status_code == 200


async def test_serving_recovers_the_champion_from_the_store_on_start(
    kafka: str, database_url: str
) -> None:
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        await migrate(conn)
        await register_stream(conn, "stored", {"x": "float"}, "y")
        await conn.execute(
            "INSERT INTO artifacts (sha256, bytes, size) VALUES (%s, %s, 1)", ("d" * 64, b"m")
        )
        await conn.execute(
            "INSERT INTO models (id, stream, version, artifact_sha256, family)"
            " VALUES ('m-7', 'stored', 7, %s, 'sklearn.logistic_regression')",
            ("d" * 64,),
        )
        await conn.execute(
            "INSERT INTO serving_history (stream, model_id, reason, actor)"
            " VALUES ('stored', 'm-7', 'gate', 'evaluation')"
        )

    settings = driftloop_serving.Settings(
        kafka_bootstrap_servers=kafka, database_url=SecretStr(database_url)
    )
    app = driftloop_serving.create_app(settings)
    async with running_server(app) as url, httpx.AsyncClient(base_url=url) as client:
        response = await client.get("/models/current", params={"stream": "stored"})
    assert response.status_code == 200
    assert response.json()[0] | {"since": None} == {
        "stream": "stored",
        "model_id": "m-7",
        "version": 7,
        "artifact_sha256": "d" * 64,
        "since": None,
        "serving_id": 1,
    }


async def test_a_faststream_service_reports_health_and_liveness(
    kafka: str, database_url: str
) -> None:
    settings = driftloop_drift.Settings(
        kafka_bootstrap_servers=kafka, database_url=SecretStr(database_url)
    )
    async with (
        running_server(driftloop_drift.create_app(settings)) as url,
        httpx.AsyncClient(base_url=url) as client,
    ):
        health = await client.get("/health")
        live = await client.get("/live")
    assert health.status_code == 200
    assert health.json() | {"instance": None} == {
        "service": "drift",
        "instance": None,
        "status": "ok",
        "kafka": True,
        "database": True,
    }
    assert live.status_code == 204
