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
from driftloop_contracts import ModelPromoted
from driftloop_learn import Dataset, Row, dump, get_family
from driftloop_store import migrate, put_artifact, register_stream

from .helpers import eventually, running_server
from .test_serving_setup import register, store_model, train

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
    await register(database_url, stream)

    async with running_server(serving) as url, httpx.AsyncClient(base_url=url) as client:
        assert (await client.get("/health")).json()["status"] == "ok"
        assert (await client.get("/ready")).status_code == 503
        assert (await client.get("/models/current", params={"stream": stream})).status_code == 404

        # Serving loads the artifact evaluation stored, checked against its hash.
        promoted = await store_model(database_url, stream, train(), 1)

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
        assert current[0]["model_id"] == promoted.model_id and current[0]["version"] == 1
        assert (await client.get("/ready")).status_code == 200


async def test_serving_recovers_the_champion_from_the_store_on_start(
    kafka: str, database_url: str
) -> None:
    rows = [Row(str(i), i, {"x": float(i % 10)}, int(i % 10 >= 5)) for i in range(100)]
    model = get_family("sklearn.logistic_regression").build({}, 1, "classification")
    artifact, sha = dump(model.fit(Dataset.of(rows)))
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        await migrate(conn)
        await register_stream(conn, "stored", {"x": "float"}, "y")
        await put_artifact(conn, artifact)
        await conn.execute(
            "INSERT INTO models (id, stream, version, artifact_sha256, family)"
            " VALUES ('m-7', 'stored', 7, %s, 'sklearn.logistic_regression')",
            (sha,),
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
        answer = await client.post("/predict", json={"stream": "stored", "features": {"x": 8.0}})
    assert answer.status_code == 200 and answer.json()["prediction"] == 1
    assert response.status_code == 200
    assert response.json()[0] | {"since": None} == {
        "stream": "stored",
        "model_id": "m-7",
        "version": 7,
        "artifact_sha256": sha,
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
