"""Journey: an online champion learns from feedback in serving, is checkpointed, and a
restarted replica resumes exactly where it left off."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from driftloop_learn import Dataset, Model, get_family, load
from driftloop_serving.champions import Appointment, Champion, OnlineState
from driftloop_serving.online import Recent, due, learn
from driftloop_spec import validate_spec

from .helpers import eventually
from .test_serving_setup import (
    connect,
    record,
    register,
    replica,
    rows,
    spec,
    store_model,
    stream_name,
)

ONLINE = "river.logistic_regression"


def river_model() -> Model:
    return get_family(ONLINE).build({}, 1, "classification").fit(Dataset.of(rows(60)))


async def checkpoint(database_url: str, stream: str) -> tuple[int, bytes, str] | None:
    async with await connect(database_url) as conn:
        cur = await conn.execute(
            "SELECT c.learned, a.bytes, a.sha256 FROM online_checkpoints c"
            " JOIN artifacts a ON a.sha256 = c.artifact_sha256 WHERE c.stream = %s",
            (stream,),
        )
        row = await cur.fetchone()
    return None if row is None else (row[0], bytes(row[1]), row[2])


async def score_and_label(client: httpx.AsyncClient, stream: str, ids: range) -> dict[str, Any]:
    """Score records ``ids``, then send their labels (the opposite of what model 1 learned,
    so that learning shows)."""
    records = [{"record_id": f"r{i}", "features": record(i)} for i in ids]
    scored = await client.post("/predict", json={"stream": stream, "records": records})
    assert scored.status_code == 200
    labels = [{"record_id": f"r{i}", "label": int(record(i)["x"] < 0)} for i in ids]
    answer = await client.post("/feedback", json={"stream": stream, "labels": labels})
    assert answer.status_code == 202
    result: dict[str, Any] = answer.json()
    return result


async def probabilities(client: httpx.AsyncClient, stream: str) -> list[Any]:
    body = {"stream": stream, "records": [{"features": record(i)} for i in range(21)]}
    return [
        p["probability"] for p in (await client.post("/predict", json=body)).json()["predictions"]
    ]


@pytest.mark.journey
async def test_an_online_champion_learns_checkpoints_and_resumes(
    kafka: str, database_url: str
) -> None:
    stream = stream_name()
    await register(database_url, stream, online=True)
    promoted = await store_model(database_url, stream, river_model(), 1)
    settings = {"checkpoint_every_labels": 5, "checkpoint_every_seconds": 3600}
    async with replica(kafka, database_url, **settings) as client:
        before = await probabilities(client, stream)
        first = await score_and_label(client, stream, range(0, 8))
        stranger = await client.post(
            "/feedback", json={"stream": stream, "record_id": "never-scored", "label": 1}
        )

        async def saved() -> bool:
            found = await checkpoint(database_url, stream)
            return found is not None and found[0] == 8

        await eventually(saved, what="a checkpoint after 5 labels")
        await score_and_label(client, stream, range(8, 11))
        learned = await probabilities(client, stream)
        current = (await client.get("/models/current", params={"stream": stream})).json()
    # The replica stopped: its last 3 labels were checkpointed on the way out.
    found = await checkpoint(database_url, stream)
    assert found is not None
    count, data, sha = found
    assert first == {"stream": stream, "accepted": 8, "learned": 8}
    assert stranger.json()["learned"] == 0
    assert current[0]["learned"] == 11 and count == 11
    assert learned != before
    # What a fresh copy of the promoted model learns from the same labels, in order.
    expected = river_model()
    for i in range(11):
        expected.learn_one(record(i), int(record(i)["x"] < 0))
    assert load(data, sha).predict_proba([record(3)]) == expected.predict_proba([record(3)])

    async with replica(kafka, database_url, **settings) as client:
        resumed = await probabilities(client, stream)
        current = (await client.get("/models/current", params={"stream": stream})).json()
    assert current[0] | {"since": None} == {
        "stream": stream,
        "model_id": promoted.model_id,
        "version": 1,
        "artifact_sha256": promoted.artifact_sha256,
        "since": None,
        "serving_id": promoted.serving_id,
        "learned": 11,
    }
    assert resumed == learned


@pytest.mark.journey
async def test_without_progressive_learning_the_spec_keeps_serving_models_fixed(
    kafka: str, database_url: str
) -> None:
    stream = stream_name()
    await register(database_url, stream, online=False)
    await store_model(database_url, stream, river_model(), 1)
    async with replica(kafka, database_url) as client:
        before = await probabilities(client, stream)
        answer = await score_and_label(client, stream, range(10))
        after = await probabilities(client, stream)
        current = (await client.get("/models/current", params={"stream": stream})).json()
    assert answer["learned"] == 0
    assert after == before
    assert "learned" not in current[0]
    assert await checkpoint(database_url, stream) is None


def test_the_features_kept_for_labels_are_bounded_and_taken_once() -> None:
    recent = Recent(capacity=2)
    for i in range(3):
        recent.remember("s", f"r{i}", {"x": float(i)})
    assert len(recent) == 2
    assert recent.take("s", "r0") is None  # the oldest was forgotten
    assert recent.take("s", "r2") == {"x": 2.0}
    assert recent.take("s", "r2") is None  # a redelivered label teaches once
    assert recent.take("other", "r1") is None


def test_a_checkpoint_is_due_after_enough_labels_or_enough_time() -> None:
    appointment = Appointment("s", "m", 1, "0" * 64, datetime.now(UTC), 1)
    fixed = Champion.of(appointment, river_model(), None)
    online = Champion.of(appointment, river_model(), OnlineState(saved_at=100.0))
    assert not learn(fixed, record(1), 1)
    assert not due(online, every_labels=3, every_seconds=60, now=1000.0)  # nothing to save
    for i in range(2):
        assert learn(online, record(i), 1)
    assert not due(online, every_labels=3, every_seconds=60, now=159.0)
    assert due(online, every_labels=3, every_seconds=60, now=160.0)
    assert learn(online, record(2), 1)
    assert due(online, every_labels=3, every_seconds=60, now=100.0)


def test_the_specs_the_serving_tests_register_are_valid() -> None:
    assert validate_spec(spec("s_x", online=True)).online
    assert not validate_spec(spec("s_x")).online
