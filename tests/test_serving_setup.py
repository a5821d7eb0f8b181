"""What the serving and admin tests build on: a registered stream, real models trained with
driftloop_learn and stored as the services store them, promotions, a running replica.

No tests here; the serving test modules import these helpers.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any
from uuid import uuid4

import httpx
import psycopg
from faststream.kafka import KafkaBroker
from pydantic import SecretStr

import driftloop_serving
from driftloop_contracts import Event, ModelPromoted, PromotionReason
from driftloop_learn import Dataset, Model, Row, dump, get_family
from driftloop_store import migrate, put_artifact, register_stream

from .helpers import running_server

SCHEMA = {"x": "float", "n": "int", "c": "category"}
TOKEN = "s3cret-token"


def stream_name(prefix: str = "s") -> str:
    # A persistent broker may hold events of earlier runs: each test has its own stream.
    return f"{prefix}_{uuid4().hex[:8]}"


def rows(count: int = 200, flip: bool = False) -> list[Row]:
    """Labels follow the sign of x (or its opposite, ``flip``): two concepts two models
    disagree on everywhere."""
    out = []
    for i in range(count):
        x = (i % 21 - 10) / 2 + 0.25
        label = int(x > 0) ^ int(flip)
        out.append(Row(f"r{i}", i, {"x": x, "n": i % 5, "c": "ab"[i % 2]}, label))
    return out


def train(family: str = "sklearn.logistic_regression", flip: bool = False) -> Model:
    model = get_family(family).build({}, 1, "classification")
    return model.fit(Dataset.of(rows(flip=flip)))


def spec(stream: str, online: bool = False) -> dict[str, Any]:
    return {
        "stream": stream,
        "task": "classification",
        "target": "y",
        "features": SCHEMA,
        "families": [{"name": "river.logistic_regression"}],
        "online": online,
    }


async def connect(database_url: str) -> psycopg.AsyncConnection[Any]:
    return await psycopg.AsyncConnection.connect(database_url, autocommit=True)


async def register(database_url: str, stream: str, online: bool | None = None) -> None:
    """Migrate the database and register ``stream`` (with a spec when ``online`` is given)."""
    async with await connect(database_url) as conn:
        await migrate(conn)
        body = None if online is None else spec(stream, online)
        await register_stream(conn, stream, SCHEMA, "y", body)


async def store_model(database_url: str, stream: str, model: Model, version: int) -> ModelPromoted:
    """Store ``model`` as evaluation does (artifact, models row, serving history) and return
    the promotion evaluation would publish."""
    data, sha = dump(model)
    model_id = f"m{version}-{uuid4().hex[:6]}"
    async with await connect(database_url) as conn:
        await put_artifact(conn, data, "application/vnd.driftloop.model+pickle")
        await conn.execute(
            "INSERT INTO models (id, stream, version, artifact_sha256, family)"
            " VALUES (%s, %s, %s, %s, %s)",
            (model_id, stream, version, sha, model.family),
        )
        serving_id = await appoint(conn, stream, model_id)
    return ModelPromoted(
        stream=stream,
        model_id=model_id,
        version=version,
        artifact_sha256=sha,
        serving_id=serving_id,
        reason=PromotionReason.GATE if version > 1 else PromotionReason.FIRST_MODEL,
    )


async def appoint(conn: psycopg.AsyncConnection[Any], stream: str, model_id: str) -> int:
    await conn.execute(
        "UPDATE serving_history SET ended_at = now() WHERE stream = %s AND ended_at IS NULL",
        (stream,),
    )
    cur = await conn.execute(
        "INSERT INTO serving_history (stream, model_id, reason, actor)"
        " VALUES (%s, %s, 'gate', 'evaluation') RETURNING id",
        (stream, model_id),
    )
    row = await cur.fetchone()
    assert row is not None
    return int(row[0])


async def publish(kafka: str, event: Event, key: str) -> None:
    async with KafkaBroker(kafka) as broker:
        await broker.publish(event, event.topic, key=key.encode())


def settings(kafka: str, database_url: str, **overrides: Any) -> driftloop_serving.Settings:
    return driftloop_serving.Settings(
        kafka_bootstrap_servers=kafka, database_url=SecretStr(database_url), **overrides
    )


@contextlib.asynccontextmanager
async def replica(
    kafka: str, database_url: str, **overrides: Any
) -> AsyncIterator[httpx.AsyncClient]:
    """A serving replica under a real uvicorn, and a client for it."""
    app = driftloop_serving.create_app(settings(kafka, database_url, **overrides))
    async with running_server(app) as url, httpx.AsyncClient(base_url=url, timeout=10) as client:
        yield client


def record(i: int) -> dict[str, Any]:
    x = (i % 21 - 10) / 2 + 0.25
    return {"x": x, "n": i % 5, "c": "ab"[i % 2]}
