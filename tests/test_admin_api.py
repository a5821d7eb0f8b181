"""Journey: the admin API needs its token, records who did what and why, and asks the loop
through events; without the token it answers 401/403 and changes nothing."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import SecretStr

from driftloop_contracts import (
    ApprovalGiven,
    Event,
    ExperimentControlRequested,
    ExperimentRequested,
    RollbackRequested,
)

from .helpers import eventually, read_topic
from .test_serving_setup import (
    TOKEN,
    connect,
    register,
    replica,
    store_model,
    stream_name,
    train,
)

pytestmark = pytest.mark.journey

AUTH = {"Authorization": f"Bearer {TOKEN}", "X-Driftloop-Actor": "ada"}


async def events(kafka: str, event: type[Event], stream: str) -> list[Any]:
    return [event.parse(v) for k, v in await read_topic(kafka, event.topic) if k == stream.encode()]


async def human_actions(database_url: str) -> list[tuple[str, ...]]:
    async with await connect(database_url) as conn:
        cur = await conn.execute(
            "SELECT actor, action, target_kind, target_id, reason FROM human_actions ORDER BY id"
        )
        return [tuple(row) for row in await cur.fetchall()]


async def add_experiment(database_url: str, stream: str, experiment_id: str, status: str) -> None:
    async with await connect(database_url) as conn:
        await conn.execute(
            "INSERT INTO experiments (id, stream, trigger, spec, budget_trials, budget_seconds,"
            " status, requested_by) VALUES (%s, %s, 'manual', '{}', 5, 60, %s, 'someone')",
            (experiment_id, stream, status),
        )


async def add_decision(database_url: str, stream: str, model_id: str, status: str) -> str:
    decision_id = f"d-{status}-{stream}"
    async with await connect(database_url) as conn:
        await conn.execute(
            "INSERT INTO artifacts (sha256, bytes, size) VALUES (%s, 'h', 1)"
            " ON CONFLICT DO NOTHING",
            ("a" * 64,),
        )
        await conn.execute(
            "INSERT INTO holdouts (hash, stream) VALUES (%s, %s) ON CONFLICT DO NOTHING",
            ("a" * 64, stream),
        )
        await conn.execute(
            "INSERT INTO decisions (id, stream, model_id, verdict, metric, candidate_score, test,"
            " alpha, min_gain, holdout_hash, status) VALUES"
            " (%s, %s, %s, 'await_approval', 'accuracy', 0.9, 'mcnemar', 0.05, 0, %s, %s)",
            (decision_id, stream, model_id, "a" * 64, status),
        )
    return decision_id


async def test_without_the_right_token_nothing_happens(kafka: str, database_url: str) -> None:
    stream = stream_name()
    await register(database_url, stream)
    await store_model(database_url, stream, train(), 1)
    wrong = [
        ({}, 401),
        ({"Authorization": "Bearer not-the-token"}, 403),
        ({"Authorization": f"Basic {TOKEN}"}, 401),
        ({"Authorization": "Bearer"}, 401),
        ({"Authorization": f"Bearer {TOKEN}x"}, 403),
    ]
    requests = [
        ("GET", "/admin/streams", None),
        ("POST", "/admin/experiments", {"stream": stream, "reason": "try"}),
        ("POST", f"/admin/streams/{stream}/pin", {"reason": "try"}),
        ("POST", f"/admin/streams/{stream}/rollback", {"reason": "try"}),
        ("DELETE", f"/admin/streams/{stream}/pin", None),
        ("POST", f"/admin/streams/{stream}/pin", "not json at all"),
    ]
    async with replica(kafka, database_url, admin_token=SecretStr(TOKEN)) as client:
        for headers, status in wrong:
            for method, path, body in requests:
                content = body if isinstance(body, str) else None
                response = await client.request(
                    method,
                    path,
                    headers=headers,
                    json=None if content else body,
                    content=content,
                )
                assert response.status_code == status, (headers, method, path)
                assert TOKEN not in response.text
        unauthenticated = await client.get("/admin/streams")
        pins = (await client.get("/admin/streams", headers=AUTH)).json()
    assert unauthenticated.headers["www-authenticate"] == "Bearer"
    assert await human_actions(database_url) == []
    assert [s["pinned_model_id"] for s in pins] == [None]
    assert await events(kafka, ExperimentRequested, stream) == []
    assert await events(kafka, RollbackRequested, stream) == []


async def test_without_a_configured_token_the_admin_api_is_off(
    kafka: str, database_url: str
) -> None:
    async with replica(kafka, database_url) as client:
        response = await client.get("/admin/streams", headers=AUTH)
    assert response.status_code == 503
    assert response.json() == {"detail": "admin API disabled: set DRIFTLOOP_ADMIN_TOKEN"}


async def test_a_person_asks_for_an_experiment_and_controls_one(
    kafka: str, database_url: str
) -> None:
    stream = stream_name()
    await register(database_url, stream)
    await add_experiment(database_url, stream, f"e-running-{stream}", "running")
    await add_experiment(database_url, stream, f"e-done-{stream}", "completed")
    override = (
        f"stream: {stream}\ntask: classification\ntarget: y\n"
        "features: {x: float}\nfamilies: [sklearn.knn]\n"
    )
    async with replica(kafka, database_url, admin_token=SecretStr(TOKEN)) as client:
        asked = await client.post(
            "/admin/experiments", headers=AUTH, json={"stream": stream, "reason": "new data"}
        )
        with_spec = await client.post(
            "/admin/experiments", headers=AUTH, json={"stream": stream, "spec": override}
        )
        bad_spec = await client.post(
            "/admin/experiments", headers=AUTH, json={"stream": stream, "spec": "stream: 7"}
        )
        other_stream = await client.post(
            "/admin/experiments",
            headers=AUTH,
            json={"stream": stream, "spec": override.replace(stream, "elsewhere")},
        )
        unknown = await client.post(
            "/admin/experiments", headers=AUTH, json={"stream": "nobody_here", "reason": "?"}
        )
        paused = await client.post(
            f"/admin/experiments/e-running-{stream}/pause",
            headers=AUTH,
            json={"reason": "lunch"},
        )
        finished = await client.post(f"/admin/experiments/e-done-{stream}/stop", headers=AUTH)
        missing = await client.post("/admin/experiments/nope/resume", headers=AUTH)
        listed = await client.get(
            "/admin/experiments", headers=AUTH, params={"stream": stream, "status": "running"}
        )
        one = await client.get(f"/admin/experiments/e-running-{stream}", headers=AUTH)

        async def published() -> list[Any] | None:
            found = await events(kafka, ExperimentRequested, stream)
            return found if len(found) == 2 else None

        requested = await eventually(published, what="two experiment requests")
        control = await events(kafka, ExperimentControlRequested, stream)

    assert asked.status_code == 202 and with_spec.status_code == 202
    assert {str(e.event_id) for e in requested} == {
        asked.json()["experiment_id"],
        with_spec.json()["experiment_id"],
    }
    first = next(e for e in requested if str(e.event_id) == asked.json()["experiment_id"])
    assert (first.trigger, first.requested_by, first.reason, first.spec) == (
        "manual",
        "ada",
        "new data",
        None,
    )
    assert (bad_spec.status_code, bad_spec.json()["field"]) == (422, "spec")
    assert other_stream.json()["reason"] == f"is for stream elsewhere, not {stream}"
    assert unknown.status_code == 404
    assert paused.status_code == 202
    assert [(c.experiment_id, c.action, c.requested_by, c.reason) for c in control] == [
        (f"e-running-{stream}", "pause", "ada", "lunch")
    ]
    assert finished.status_code == 409 and missing.status_code == 404
    assert [e["id"] for e in listed.json()] == [f"e-running-{stream}"]
    assert one.json()["status"] == "running"
    assert await human_actions(database_url) == [
        ("ada", "experiment.request", "stream", stream, "new data"),
        ("ada", "experiment.request", "stream", stream, ""),
        ("ada", "experiment.pause", "experiment", f"e-running-{stream}", "lunch"),
    ]


async def test_a_person_approves_rolls_back_and_pins(kafka: str, database_url: str) -> None:
    stream = stream_name()
    await register(database_url, stream)
    first = await store_model(database_url, stream, train(), 1)
    second = await store_model(database_url, stream, train(flip=True), 2)
    pending = await add_decision(database_url, stream, second.model_id, "pending")
    final = await add_decision(database_url, stream, second.model_id, "final")
    async with replica(kafka, database_url, admin_token=SecretStr(TOKEN)) as client:
        approved = await client.post(
            f"/admin/decisions/{pending}/approve", headers=AUTH, json={"reason": "looks right"}
        )
        too_late = await client.post(f"/admin/decisions/{final}/reject", headers=AUTH)
        decisions = await client.get(
            "/admin/decisions", headers=AUTH, params={"stream": stream, "status": "pending"}
        )
        rollback = await client.post(
            f"/admin/streams/{stream}/rollback",
            headers=AUTH,
            json={"to_version": 1, "reason": "v2 misbehaves"},
        )
        no_version = await client.post(
            f"/admin/streams/{stream}/rollback", headers=AUTH, json={"to_version": 9}
        )
        pinned = await client.post(
            f"/admin/streams/{stream}/pin", headers=AUTH, json={"reason": "freeze"}
        )
        streams = (await client.get("/admin/streams", headers=AUTH)).json()
        models = (await client.get("/admin/models", headers=AUTH, params={"stream": stream})).json()
        unpinned = await client.request("DELETE", f"/admin/streams/{stream}/pin", headers=AUTH)
        again = await client.request("DELETE", f"/admin/streams/{stream}/pin", headers=AUTH)
        approvals = await eventually(
            lambda: events(kafka, ApprovalGiven, stream), what="the approval event"
        )
        rollbacks = await events(kafka, RollbackRequested, stream)

    assert approved.status_code == 202
    [approval] = approvals
    assert (approval.decision_id, approval.model_id, approval.approved, approval.actor) == (
        pending,
        second.model_id,
        True,
        "ada",
    )
    assert too_late.status_code == 409
    assert [d["id"] for d in decisions.json()] == [pending]
    assert rollback.status_code == 202
    assert [(r.to_version, r.actor, r.reason) for r in rollbacks] == [(1, "ada", "v2 misbehaves")]
    assert no_version.status_code == 404
    assert pinned.status_code == 200
    assert pinned.json()["model_id"] == second.model_id and pinned.json()["actor"] == "ada"
    assert [(s["name"], s["pinned_model_id"], s["champion_version"]) for s in streams] == [
        (stream, second.model_id, 2)
    ]
    assert [(m["version"], m["serving"], m["pinned"]) for m in models] == [
        (2, True, True),
        (1, False, False),
    ]
    assert first.model_id in {m["id"] for m in models}
    assert unpinned.status_code == 200 and again.status_code == 404
    assert await human_actions(database_url) == [
        ("ada", "decision.approve", "decision", pending, "looks right"),
        ("ada", "stream.rollback", "stream", stream, "v2 misbehaves"),
        ("ada", "stream.pin", "stream", stream, "freeze"),
        ("ada", "stream.unpin", "stream", stream, ""),
    ]


async def test_the_actor_defaults_to_admin_and_an_invalid_one_is_refused(
    kafka: str, database_url: str
) -> None:
    stream = stream_name()
    await register(database_url, stream)
    await store_model(database_url, stream, train(), 1)
    token = {"Authorization": f"Bearer {TOKEN}"}
    async with replica(kafka, database_url, admin_token=SecretStr(TOKEN)) as client:
        pinned = await client.post(f"/admin/streams/{stream}/pin", headers=token)
        refused = await client.post(
            f"/admin/streams/{stream}/pin", headers={**token, "X-Driftloop-Actor": "x" * 200}
        )
        trials = await client.get("/admin/trials", headers=token, params={"limit": 5000})
    assert pinned.json()["actor"] == "admin"
    assert refused.status_code == 422
    assert (trials.status_code, trials.json()["field"]) == (422, "limit")
    assert [a[:2] for a in await human_actions(database_url)] == [("admin", "stream.pin")]
