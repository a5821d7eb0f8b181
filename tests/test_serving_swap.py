"""Journey: promotions swap the model under load without a failed request; a rollback brings
the earlier model's predictions back; an artifact that fails its hash is never served, and
people are alerted."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from driftloop_alerts import SECRET_ENV, SIGNATURE_HEADER, WEBHOOKS_ENV, verify
from driftloop_contracts import ModelPromoted, PromotionReason

from .helpers import eventually, running_server
from .test_serving_setup import (
    appoint,
    connect,
    publish,
    record,
    register,
    replica,
    store_model,
    stream_name,
    train,
)

pytestmark = pytest.mark.journey

CLIENTS = 24


async def test_a_promotion_under_concurrent_load_fails_no_request(
    kafka: str, database_url: str
) -> None:
    stream = stream_name()
    await register(database_url, stream)
    models = {1: train(), 2: train(flip=True)}
    first = await store_model(database_url, stream, models[1], 1)
    answers: list[list[tuple[int, Any, int, Any]]] = [[] for _ in range(CLIENTS)]
    swapped_after: list[int] = []  # answers each client got after the first version 2
    stop = asyncio.Event()

    async def load(client: httpx.AsyncClient, mine: list[tuple[int, Any, int, Any]]) -> None:
        i = 0
        while not stop.is_set():
            i += 1
            response = await client.post("/predict", json={"stream": stream, "features": record(i)})
            body = response.json() if response.status_code == 200 else {}
            mine.append(
                (response.status_code, body.get("model_version"), i, body.get("prediction"))
            )

    async with replica(kafka, database_url) as client:
        limits = httpx.Limits(max_connections=CLIENTS)
        async with httpx.AsyncClient(base_url=client.base_url, limits=limits) as pool:
            tasks = [asyncio.create_task(load(pool, answers[c])) for c in range(CLIENTS)]

            async def answered(count: int) -> bool:
                return sum(map(len, answers)) >= count

            await eventually(lambda: answered(200), what="load before the promotion")
            second = await store_model(database_url, stream, models[2], 2)
            await publish(kafka, second, stream)

            async def all_on_version_2() -> bool:
                latest = [mine[-1][1] for mine in answers if mine]
                return len(latest) == CLIENTS and set(latest) == {2}

            await eventually(all_on_version_2, what="every client to see version 2")
            done = sum(map(len, answers))
            await eventually(lambda: answered(done + 200), what="load after the promotion")
            stop.set()
            await asyncio.gather(*tasks)

    flat = [answer for mine in answers for answer in mine]
    assert {status for status, *_ in flat} == {200}
    assert {version for _, version, *_ in flat} == {1, 2}
    assert first.version == 1
    # Each answer is the prediction of the model it names, never a mix.
    for _, version, i, prediction in flat:
        assert prediction == models[version].predict([record(i)])[0]
    for mine in answers:
        versions = [version for _, version, *_ in mine]
        # The swap is one assignment: once a client is answered by version 2, never by 1.
        assert versions == sorted(versions)
        swapped_after.append(versions.count(2))
    assert min(swapped_after) > 0


async def test_a_rollback_serves_the_earlier_model_s_predictions_again(
    kafka: str, database_url: str
) -> None:
    stream = stream_name()
    await register(database_url, stream)
    model_1, model_2 = train(), train(flip=True)
    first = await store_model(database_url, stream, model_1, 1)
    await store_model(database_url, stream, model_2, 2)
    probes = [record(i) for i in range(21)]

    async def predictions(client: httpx.AsyncClient) -> tuple[set[int], list[Any]]:
        body = {"stream": stream, "records": [{"features": x} for x in probes]}
        items = (await client.post("/predict", json=body)).json()["predictions"]
        return {i["model_version"] for i in items}, [i["prediction"] for i in items]

    async with replica(kafka, database_url) as client:
        assert await predictions(client) == ({2}, model_2.predict(probes))
        async with await connect(database_url) as conn:
            serving_id = await appoint(conn, stream, first.model_id)
        rollback = first.model_copy(
            update={"serving_id": serving_id, "reason": PromotionReason.ROLLBACK}
        )
        await publish(kafka, rollback, stream)

        async def rolled_back() -> bool:
            return (await predictions(client))[0] == {1}

        await eventually(rolled_back, what="the rollback to version 1")
        assert await predictions(client) == ({1}, model_1.predict(probes))
        assert model_1.predict(probes) != model_2.predict(probes)


async def test_an_artifact_that_fails_its_hash_is_refused_alerted_and_the_old_model_serves_on(
    kafka: str, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    alerts: list[tuple[dict[str, Any], bool]] = []

    async def hook(request: Request) -> Response:
        body = await request.body()
        alerts.append((json.loads(body), verify("s3cret", request.headers[SIGNATURE_HEADER], body)))
        return Response(status_code=204)

    stream = stream_name()
    await register(database_url, stream)
    await store_model(database_url, stream, train(), 1)
    receiver = Starlette(routes=[Route("/hook", hook, methods=["POST"])])
    async with running_server(receiver) as hooks:
        monkeypatch.setenv(WEBHOOKS_ENV, f"{hooks}/hook")
        monkeypatch.setenv(SECRET_ENV, "s3cret")
        await _refuse_a_tampered_artifact(kafka, database_url, stream)

        async def alerted() -> list[tuple[dict[str, Any], bool]]:
            return [(a, signed) for a, signed in alerts if a["stream"] == stream]

        received = await eventually(alerted, what="the alert on the tampered model")
    (alert, signed) = next((a, s) for a, s in received if a["details"]["model_id"] != "nowhere")
    assert signed and alert["kind"] == "failure"
    assert alert["details"]["reason"] == "hash_mismatch"
    assert "refused" in alert["summary"]


async def _refuse_a_tampered_artifact(kafka: str, database_url: str, stream: str) -> None:
    async with replica(kafka, database_url) as client:
        second = await store_model(database_url, stream, train(flip=True), 2)
        async with await connect(database_url) as conn:
            # Same length, one byte changed: what a tampered or corrupted row looks like.
            await conn.execute(
                "UPDATE artifacts SET bytes = overlay(bytes placing '\\x00'::bytea from 20)"
                " WHERE sha256 = %s",
                (second.artifact_sha256,),
            )
        await publish(kafka, second, stream)
        missing = ModelPromoted(
            stream=stream,
            model_id="nowhere",
            version=3,
            artifact_sha256="e" * 64,
            serving_id=second.serving_id + 1,
            reason=PromotionReason.GATE,
        )
        await publish(kafka, missing, stream)

        def failures(text: str, reason: str) -> bool:
            line = (
                f'driftloop_serving_model_load_failures_total{{reason="{reason}",'
                f'stream="{stream}"}} 1.0'
            )
            return line in text.splitlines()

        async def both_refused() -> bool:
            text = (await client.get("/metrics")).text
            # The made-up one is not in serving history: refused before any loading.
            return failures(text, "hash_mismatch") and failures(text, "unrecorded")

        await eventually(both_refused, what="both promotions to be refused")
        current = (await client.get("/models/current", params={"stream": stream})).json()
        answer = await client.post("/predict", json={"stream": stream, "features": record(3)})
    assert current[0]["version"] == 1
    assert answer.status_code == 200 and answer.json()["model_version"] == 1
