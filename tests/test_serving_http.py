"""Journey: a serving replica under uvicorn answers predictions, logs each to Kafka, takes
feedback, refuses bad requests with a 4xx naming the field, and reports itself."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from driftloop_contracts import FeedbackReceived, PredictionLogged

from .helpers import eventually, read_topic
from .test_serving_setup import record, register, replica, store_model, stream_name, train

pytestmark = pytest.mark.journey


async def events_of(kafka: str, event: Any, stream: str) -> list[Any]:
    return [event.parse(v) for k, v in await read_topic(kafka, event.topic) if k == stream.encode()]


async def test_predictions_name_their_model_and_every_one_is_logged(
    kafka: str, database_url: str
) -> None:
    stream = stream_name()
    await register(database_url, stream)
    model = train()
    promoted = await store_model(database_url, stream, model, 1)
    async with replica(kafka, database_url) as client:
        one = await client.post(
            "/predict", json={"stream": stream, "record_id": "r-1", "features": record(3)}
        )
        batch = await client.post(
            "/predict",
            json={
                "stream": stream,
                "records": [{"record_id": "r-2", "features": record(15)}, {"features": record(4)}],
            },
        )

        async def logged() -> list[PredictionLogged] | None:
            found = await events_of(kafka, PredictionLogged, stream)
            return found if len(found) == 3 else None

        events = await eventually(logged, what="three prediction logs")

    assert one.status_code == 200
    answer = one.json()
    assert answer | {"probability": None} == {
        "stream": stream,
        "record_id": "r-1",
        "prediction": model.predict([record(3)])[0],
        "probability": None,
        "model_id": promoted.model_id,
        "model_version": 1,
    }
    [proba] = model.predict_proba([record(3)]) or [{}]
    assert answer["probability"] == {str(k): v for k, v in proba.items()}

    assert batch.status_code == 200
    items = batch.json()["predictions"]
    assert [i["prediction"] for i in items] == model.predict([record(15), record(4)])
    assert items[0]["record_id"] == "r-2" and len(items[1]["record_id"]) == 36

    by_id = {e.record_id: e for e in events}
    assert set(by_id) == {"r-1", "r-2", items[1]["record_id"]}
    assert by_id["r-1"].features == record(3)
    assert by_id["r-1"].prediction == answer["prediction"]
    assert by_id["r-1"].probability == answer["probability"][str(answer["prediction"])]
    assert {(e.model_id, e.model_version) for e in events} == {(promoted.model_id, 1)}


async def test_feedback_is_published_keyed_by_stream(kafka: str, database_url: str) -> None:
    stream = stream_name()
    await register(database_url, stream)
    async with replica(kafka, database_url) as client:
        single = await client.post(
            "/feedback", json={"stream": stream, "record_id": "r-1", "label": 1}
        )
        several = await client.post(
            "/feedback",
            json={"stream": stream, "labels": [{"record_id": "r-2", "label": 0}] * 2},
        )
        refused = await client.post(
            "/feedback", json={"stream": stream, "record_id": "r-3", "label": None}
        )

        async def published() -> list[FeedbackReceived] | None:
            found = await events_of(kafka, FeedbackReceived, stream)
            return found if len(found) == 3 else None

        events = await eventually(published, what="three labels on Kafka")
    assert single.status_code == 202
    assert single.json() == {"stream": stream, "accepted": 1, "learned": 0}
    assert several.json()["accepted"] == 2
    assert refused.status_code == 422 and refused.json()["field"] == "label"
    assert sorted((e.record_id, e.label) for e in events) == [("r-1", 1), ("r-2", 0), ("r-2", 0)]


BAD: list[tuple[str, Any, int, str | None]] = [
    # (what, body, status, field)
    ("unknown stream", {"stream": "nobody_here", "features": {}}, 422, "stream"),
    ("no stream", {"stream": None, "features": {}}, 422, "stream"),
    ("missing feature", {"features": {"x": 1.0, "n": 1}}, 422, "features.c"),
    ("wrong type", {"features": {"x": 1.0, "n": "1", "c": "a"}}, 422, "features.n"),
    ("unknown feature", {"features": {"x": 1.0, "n": 1, "c": "a", "z": 0}}, 422, "features.z"),
    ("unknown field", {"features": {"x": 1.0, "n": 1, "c": "a"}, "label": 1}, 422, "label"),
    ("batch too large", {"records": [{"features": {}}] * 6}, 413, "records"),
]


async def test_bad_requests_get_a_4xx_naming_the_field_never_a_5xx(
    kafka: str, database_url: str
) -> None:
    stream = stream_name()
    await register(database_url, stream)
    await store_model(database_url, stream, train(), 1)
    async with replica(kafka, database_url, max_batch=5, max_body_bytes=4096) as client:
        for what, body, status, field in BAD:
            response = await client.post("/predict", json={"stream": stream, **body})
            assert (response.status_code, response.json().get("field")) == (status, field), what
            assert response.json()["reason"], what

        nan = await client.post(
            "/predict",
            content=f'{{"stream": "{stream}", "features": {{"x": NaN, "n": 1, "c": "a"}}}}',
        )
        assert nan.status_code == 422
        assert nan.json()["detail"] == "features.x: must be a finite number, got NaN"

        not_json = await client.post("/predict", content=b"stream=orders")
        assert (not_json.status_code, not_json.json()["field"]) == (400, "body")

        too_big = await client.post("/predict", content=b"{" + b" " * 5000 + b"}")
        assert (too_big.status_code, too_big.json()["field"]) == (413, "body")

        async def chunks() -> Any:
            for _ in range(10):
                yield b" " * 1000

        streamed = await client.post("/predict", content=chunks())
        assert streamed.status_code == 413

        admin_too_big = await client.post("/admin/experiments", content=b"x" * 5000)
        assert admin_too_big.status_code == 413

        fine = await client.post(
            "/predict", json={"stream": stream, "features": {"x": 1.0, "n": 1, "c": "a"}}
        )
        assert fine.status_code == 200


async def test_a_registered_stream_without_a_model_is_not_ready(
    kafka: str, database_url: str
) -> None:
    stream = stream_name()
    await register(database_url, stream)
    async with replica(kafka, database_url) as client:
        ready = await client.get("/ready")
        answer = await client.post("/predict", json={"stream": stream, "features": record(1)})
    assert ready.status_code == 503
    assert answer.status_code == 503
    assert answer.json()["detail"] == f"stream: no model serves stream {stream} yet"


async def test_metrics_count_requests_latency_versions_and_classes(
    kafka: str, database_url: str
) -> None:
    stream = stream_name()
    await register(database_url, stream)
    await store_model(database_url, stream, train(), 1)
    async with replica(kafka, database_url) as client:
        for i in (3, 15, 4):
            await client.post("/predict", json={"stream": stream, "features": record(i)})
        await client.post("/predict", json={"stream": stream, "features": {}})
        text = (await client.get("/metrics")).text
    lines = set(text.splitlines())
    assert 'driftloop_serving_requests_total{route="/predict",status="200"} 3.0' in lines
    assert 'driftloop_serving_requests_total{route="/predict",status="422"} 1.0' in lines
    assert 'driftloop_serving_request_seconds_count{route="/predict"} 4.0' in lines
    assert f'driftloop_serving_model_version{{stream="{stream}"}} 1.0' in lines
    predicted = (
        f'driftloop_serving_predictions_total{{model_version="1",prediction="0",stream="{stream}"}}'
    )
    assert f"{predicted} 2.0" in lines


async def test_the_openapi_document_describes_predictions_and_the_admin_api(
    kafka: str, database_url: str
) -> None:
    async with replica(kafka, database_url) as client:
        document = (await client.get("/openapi.json")).json()
        docs = await client.get("/docs")
    paths = document["paths"]
    assert "features" in str(paths["/predict"]["post"]["requestBody"])
    assert {"/feedback", "/models/current", "/metrics", "/admin/streams/{stream}/pin"} <= set(paths)
    assert "HTTPBearer" in document["components"]["securitySchemes"]
    assert docs.status_code == 200


async def test_a_client_that_goes_away_mid_body_breaks_nothing(
    kafka: str, database_url: str
) -> None:
    stream = stream_name()
    await register(database_url, stream)
    await store_model(database_url, stream, train(), 1)
    async with replica(kafka, database_url) as client:
        host, port = str(client.base_url).removeprefix("http://").split(":")
        _, writer = await asyncio.open_connection(host, int(port))
        writer.write(b"POST /predict HTTP/1.1\r\nhost: x\r\ncontent-length: 500\r\n\r\n{")
        await writer.drain()
        writer.close()
        after = await client.post("/predict", json={"stream": stream, "features": record(3)})
    assert after.status_code == 200
