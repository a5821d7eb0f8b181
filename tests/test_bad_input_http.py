"""Bad requests to every HTTP endpoint: serving's ``/predict`` and ``/feedback``, the admin
API, and the ``/health`` and ``/live`` of every other service.

Never a 5xx: a bad request gets a 4xx whose JSON says why (``detail``), and names the field
at fault (``field``) when the request's content is what is wrong. A valid request sent
after each bad one is still answered.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from .bad_input_strategies import NUL, bad_messages, encode, nasty_text
from .test_admin_api import add_decision, add_experiment
from .test_serving_setup import TOKEN, record, register, replica, store_model, stream_name, train

pytestmark = pytest.mark.journey

EXAMPLES = settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
AUTH = {
    "Authorization": f"Bearer {TOKEN}",
    "X-Driftloop-Actor": "ada",
    "Content-Type": "application/json",
}
# Path segments and query values, percent-encoded from any text (lone surrogates make bytes
# that are not UTF-8); kept under what an HTTP server takes in a request line.
segments = nasty_text.filter(lambda s: len(s) < 2000).map(
    lambda s: quote(s.encode("utf-8", "surrogatepass"), safe="")
)


def refused_well(response: httpx.Response, what: Any = "") -> None:
    """Answered, not failed: a 2xx, or a 4xx that says why and, if the content is at fault,
    names the field."""
    assert response.status_code < 500, (what, response.status_code, response.text[:300])
    if response.status_code < 400:
        return
    body = response.json()
    assert body["detail"], what
    if response.status_code in (400, 413, 422):
        assert body["field"] and body["reason"], (what, body)


@dataclass
class Served:
    client: httpx.AsyncClient
    stream: str
    decision: str
    experiment: str


@pytest.fixture
async def served(kafka: str, database_url: str) -> AsyncIterator[Served]:
    """A replica serving a stream with two models, an experiment running, a decision
    pending, and the admin API on."""
    stream = stream_name()
    await register(database_url, stream)
    await store_model(database_url, stream, train(), 1)
    second = await store_model(database_url, stream, train(flip=True), 2)
    decision = await add_decision(database_url, stream, second.model_id, "pending")
    experiment = f"e-{stream}"
    await add_experiment(database_url, stream, experiment, "running")
    overrides = {"admin_token": SecretStr(TOKEN), "max_batch": 20}
    async with replica(kafka, database_url, **overrides) as client:
        yield Served(client, stream, decision, experiment)


# -- /predict and /feedback -------------------------------------------------------------------


def scoring(stream: str) -> st.SearchStrategy[dict[str, Any]]:
    one = {"stream": stream, "record_id": "r-1", "features": record(1)}
    many = {"stream": stream, "records": [{"record_id": "r-2", "features": record(2)}]}
    return st.sampled_from([one, many])


def labelling(stream: str) -> st.SearchStrategy[dict[str, Any]]:
    one = {"stream": stream, "record_id": "r-1", "label": 1}
    many = {"stream": stream, "labels": [{"record_id": "r-2", "label": 0}]}
    return st.sampled_from([one, many])


@EXAMPLES
@given(data=st.data())
async def test_bad_predictions_and_labels_get_a_4xx_naming_the_field(
    served: Served, data: st.DataObject
) -> None:
    path, valid = data.draw(
        st.sampled_from([("/predict", scoring), ("/feedback", labelling)]), label="route"
    )
    template = data.draw(valid(served.stream))
    body = data.draw(bad_messages(template), label="body")

    refused_well(await served.client.post(path, content=body), body[:200])

    fine = await served.client.post(path, content=json.dumps(template))
    assert fine.status_code in (200, 202), fine.text


NUL_IN_REQUESTS: list[tuple[str, dict[str, Any], str]] = [
    ("/predict", {"stream": f"s{NUL}", "features": record(1)}, "stream"),
    ("/predict", {"record_id": f"r{NUL}", "features": record(1)}, "record_id"),
    ("/predict", {"features": {**record(1), "c": f"a{NUL}"}}, "features.c"),
    ("/predict", {"features": {**record(1), f"c{NUL}": "a"}}, f"features.c{NUL}"),
    ("/feedback", {"record_id": f"r{NUL}", "label": 1}, "record_id"),
    ("/feedback", {"record_id": "r", "label": f"yes{NUL}"}, "label"),
]


async def test_a_nul_in_a_prediction_or_label_is_refused_naming_the_field(
    served: Served,
) -> None:
    for path, body, field in NUL_IN_REQUESTS:
        response = await served.client.post(path, json={"stream": served.stream, **body})

        assert response.status_code == 422, (path, body, response.text)
        assert response.json()["field"] == field, (path, body)


# -- the admin API ------------------------------------------------------------------------


@EXAMPLES
@given(data=st.data())
async def test_bad_admin_paths_and_queries_get_a_4xx(served: Served, data: st.DataObject) -> None:
    value = data.draw(segments, label="value")
    path, params = data.draw(
        st.sampled_from(
            [
                (f"/admin/experiments/{value}", {}),
                ("/admin/experiments", {"stream": value}),
                ("/admin/experiments", {"status": value}),
                ("/admin/trials", {"experiment_id": value}),
                ("/admin/models", {"stream": value}),
                ("/admin/decisions", {"stream": value, "status": value}),
                ("/admin/trials", {"limit": value}),
            ]
        ),
        label="request",
    )
    query = "&".join(f"{name}={v}" for name, v in params.items())

    refused_well(await served.client.get(f"{path}?{query}", headers=AUTH), (path, query))

    assert (await served.client.get("/admin/streams", headers=AUTH)).status_code == 200


@EXAMPLES
@given(data=st.data())
async def test_bad_admin_actions_get_a_4xx_and_the_api_answers_on(
    served: Served, data: st.DataObject
) -> None:
    segment = data.draw(segments, label="segment")
    target = data.draw(st.sampled_from(["known", "made up"]), label="target")
    experiment = served.experiment if target == "known" else segment
    decision, stream = (served.decision, served.stream) if target == "known" else (segment,) * 2
    actions: list[tuple[str, str, dict[str, Any]]] = [
        ("POST", "/admin/experiments", {"stream": served.stream, "reason": "why"}),
        ("POST", f"/admin/experiments/{experiment}/pause", {"reason": "why"}),
        ("POST", f"/admin/experiments/{experiment}/{segment}", {"reason": "why"}),
        ("POST", f"/admin/decisions/{decision}/reject", {"reason": "why"}),
        ("POST", f"/admin/streams/{stream}/rollback", {"to_version": 1}),
        ("POST", f"/admin/streams/{stream}/pin", {"model_id": "none-such"}),
        ("DELETE", f"/admin/streams/{stream}/pin", {"reason": "why"}),
    ]
    method, path, valid = data.draw(st.sampled_from(actions), label="action")
    body = data.draw(bad_messages(valid), label="body")

    response = await served.client.request(method, path, content=body, headers=AUTH)

    refused_well(response, (method, path, body[:200]))
    assert (await served.client.get("/admin/streams", headers=AUTH)).status_code == 200


NUL_IN_ADMIN_REQUESTS: list[tuple[str, str, dict[str, Any] | None, str]] = [
    ("GET", "/admin/experiments/e%00", None, "experiment_id"),
    ("GET", "/admin/experiments?stream=s%00", None, "stream"),
    ("GET", "/admin/trials?experiment_id=e%00", None, "experiment_id"),
    ("GET", "/admin/models?stream=s%00", None, "stream"),
    ("GET", "/admin/decisions?stream=s%00", None, "stream"),
    ("POST", "/admin/experiments/e%00/pause", None, "experiment_id"),
    ("POST", "/admin/decisions/d%00/approve", None, "decision_id"),
    ("POST", "/admin/experiments/{experiment}/pause", {"reason": f"a{NUL}"}, "reason"),
    ("POST", "/admin/streams/{stream}/pin", {"model_id": f"m{NUL}"}, "model_id"),
    ("POST", "/admin/streams/{stream}/rollback", {"reason": f"a{NUL}"}, "reason"),
    ("POST", "/admin/experiments", {"stream": "{stream}", "spec": f"a{NUL}"}, "spec"),
]


async def test_a_nul_anywhere_in_an_admin_request_is_refused_naming_the_field(
    served: Served,
) -> None:
    names = {"stream": served.stream, "experiment": served.experiment}
    for method, path, body, field in NUL_IN_ADMIN_REQUESTS:
        content = (
            None if body is None else encode(body).decode().replace("{stream}", names["stream"])
        )
        response = await served.client.request(
            method, path.format(**names), content=content, headers=AUTH
        )

        assert response.status_code == 422, (method, path, response.text)
        assert response.json()["field"] == field, (method, path)


async def test_an_admin_body_that_is_not_utf8_is_refused_naming_the_body(served: Served) -> None:
    for body in (b'{"reason": "\xff\xfe"}', b"\xff\xfe", b'{"reason": "\xc3"}'):
        response = await served.client.post(
            f"/admin/experiments/{served.experiment}/pause", content=body, headers=AUTH
        )

        assert 400 <= response.status_code < 500, (body, response.text)
        assert response.json()["field"] == "body", body


# -- the other services -------------------------------------------------------------------


def service_apps(kafka: str, database_url: str) -> list[Any]:
    """Every FastStream service's ASGI app, as ``driftloop up`` builds it."""
    import driftloop_drift
    import driftloop_evaluation
    import driftloop_ingestion
    import driftloop_scheduler
    import driftloop_training

    modules = (
        driftloop_ingestion,
        driftloop_drift,
        driftloop_scheduler,
        driftloop_training,
        driftloop_evaluation,
    )
    url = SecretStr(database_url)
    return [
        m.create_app(m.Settings(kafka_bootstrap_servers=kafka, database_url=url)) for m in modules
    ]


@pytest.fixture
async def services(kafka: str, database_url: str) -> AsyncIterator[list[httpx.AsyncClient]]:
    # Not started: ``/health`` then says, with a 503, that Kafka and the store are not
    # reached, which is its answer, not a failure. Starting five consumer groups would cost
    # a minute and exercise the same two routes.
    clients = [
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://service")
        for app in service_apps(kafka, database_url)
    ]
    try:
        yield clients
    finally:
        for client in clients:
            await client.aclose()


@settings(EXAMPLES, max_examples=20)
@given(data=st.data())
async def test_every_service_answers_bad_requests_without_failing(
    services: list[httpx.AsyncClient], data: st.DataObject
) -> None:
    client = data.draw(st.sampled_from(services), label="service")
    method = data.draw(st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH"]), label="method")
    path = data.draw(
        st.one_of(
            st.sampled_from(["/health", "/live", "/", "/admin", "/predict"]),
            segments.map(lambda s: f"/{s}"),
        ),
        label="path",
    )
    query = data.draw(segments, label="query")
    body = data.draw(st.one_of(st.just(b""), bad_messages({"a": 1})), label="body")

    response = await client.request(method, f"{path}?{query}", content=body)

    if path == "/health" and method == "GET":
        assert response.status_code == 503
        assert response.json()["status"] == "unhealthy"
    else:
        assert response.status_code < 500, (method, path, response.status_code)
