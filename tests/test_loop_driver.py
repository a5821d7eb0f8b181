"""The loop driver against the real embedded broker and a stand-in for serving, and the
prequential accuracy and plot it yields.

The stand-in plays serving and its admin API over real HTTP: no model until a first
experiment is asked for, then a model that always answers 0; it remembers when each
record was scored and when each label came.
"""

from __future__ import annotations

import asyncio
import json
import time
from datetime import datetime
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from driftloop.loop import LoopConfig, LoopDriver, Tick
from driftloop.plot import Marker, accuracy, sliding_accuracy, write_html, write_png
from driftloop.synthetic import Change, records

from .helpers import read_topic, running_server

TOKEN = "t0ken"


class FakeServing:
    def __init__(self, *, promote_on: int = 1, delay: float = 0.0) -> None:
        self.promote_on = promote_on  # the first experiment request that gives a model
        self.delay = delay  # seconds each prediction takes
        self.model = False
        self.asked: list[int] = []  # labels received when each experiment was asked for
        self.scored: dict[str, float] = {}  # record id -> when it was scored
        self.labels: dict[str, tuple[Any, float]] = {}  # record id -> (label, when)

    async def predict(self, request: Request) -> JSONResponse:
        body = await request.json()
        self.scored[body["record_id"]] = time.monotonic()
        await asyncio.sleep(self.delay)
        if not self.model:
            return JSONResponse({"detail": "no model serves the stream yet"}, 503)
        answer = {"prediction": 0, "model_id": "m-1", "model_version": 1}
        return JSONResponse({"stream": body["stream"], "record_id": body["record_id"], **answer})

    async def feedback(self, request: Request) -> JSONResponse:
        body = await request.json()
        for item in body["labels"]:
            assert item["record_id"] not in self.labels, "a label given twice"
            self.labels[item["record_id"]] = (item["label"], time.monotonic())
        return JSONResponse({"accepted": len(body["labels"])}, 202)

    async def experiments(self, request: Request) -> JSONResponse:
        if request.headers.get("authorization") != f"Bearer {TOKEN}":
            return JSONResponse({"detail": "bad token"}, 403)
        self.asked.append(len(self.labels))
        self.model = len(self.asked) >= self.promote_on
        return JSONResponse({"experiment_id": f"e-{len(self.asked)}"}, 202)

    async def experiment(self, request: Request) -> JSONResponse:
        # An experiment that gave no model has failed by the time anyone looks.
        return JSONResponse({"status": "completed" if self.model else "failed"})

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/predict", self.predict, methods=["POST"]),
                Route("/feedback", self.feedback, methods=["POST"]),
                Route("/admin/experiments", self.experiments, methods=["POST"]),
                Route("/admin/experiments/{id}", self.experiment),
            ]
        )


def config(count: int, rate: float, label_delay: float = 0.2) -> LoopConfig:
    return LoopConfig(
        stream=f"loop_{uuid4().hex[:8]}",
        count=count,
        rate=rate,
        label_delay=label_delay,
        changes=(Change(count // 2),),
        concepts=(0, 2),
    )


async def drive(fake: FakeServing, chosen: LoopConfig, kafka: str, **kw: Any) -> list[Tick]:
    async with running_server(fake.app()) as url:
        driver = LoopDriver(chosen, bootstrap_servers=kafka, serving_url=url, **kw)
        ticks = await driver.run()
    assert driver.labels_sent == chosen.count
    return ticks


@pytest.mark.journey
async def test_every_record_is_published_unlabelled_scored_at_once_and_labelled_later(
    kafka: str,
) -> None:
    fake, chosen = FakeServing(), config(count=300, rate=150)
    seen: list[Tick] = []
    async with running_server(fake.app()) as url:
        driver = LoopDriver(
            chosen,
            bootstrap_servers=kafka,
            serving_url=url,
            admin_url=url,
            admin_token=TOKEN,
            warmup=50,
        )
        before = time.monotonic()
        ticks = await driver.run(seen.append)

    truth = list(records(chosen.stream, "agrawal", 300, changes=[Change(150)], concepts=[0, 2]))
    assert [t.index for t in ticks] == list(range(300)) and len(seen) == 300
    assert [t.label for t in ticks] == [r["label"] for r in truth]
    # One first experiment, asked for once 50 labels were in; no model before it.
    assert len(fake.asked) == 1 and fake.asked[0] >= 50
    # Scored by the model once there was one; a record not scored is a miss, and why is
    # counted (answers may come out of order, and late, on a busy machine).
    served = [t for t in ticks if t.model_id is not None]
    assert served and driver.serving == ("m-1", 1)
    assert all((t.prediction, t.model_version) == (0, 1) for t in served)
    assert all(t.correct == (t.label == 0) for t in served)
    unscored = [t for t in ticks if t.model_id is None]
    assert all(t.prediction is None and not t.correct for t in unscored)
    assert sum(driver.failures.values()) == len(unscored), driver.failures
    assert driver.failures["no model serves (HTTP 503)"] >= served[0].index
    # Paced in real time: no record went out before its time, i / rate seconds (how much
    # later is the machine's business, not a property to assert).
    assert all(t.at >= t.index / 150 for t in ticks)
    # Each label came once, right, and not before label_delay after its record was sent.
    assert {rid: label for rid, (label, _) in fake.labels.items()} == {
        r["record_id"]: r["label"] for r in truth
    }
    sent = {r["record_id"]: before + t.at for r, t in zip(truth, ticks, strict=True)}
    assert all(fake.labels[rid][1] >= sent[rid] + 0.2 for rid in sent)

    # Other tests put bytes that are not JSON on this topic: only this stream's count.
    published = [
        (key, json.loads(value))
        for key, value in await read_topic(kafka, "driftloop.records")
        if chosen.stream.encode() in value
    ]
    assert sorted(key.decode() for key, _ in published if key) == sorted(fake.scored)
    by_id = {r["record_id"]: r for r in truth}
    for key, value in published:
        assert key is not None and value["record_id"] == key.decode()
        assert "label" not in value
        assert value["features"] == by_id[value["record_id"]]["features"]
        assert datetime.fromisoformat(value["event_time"]).tzinfo is not None


@pytest.mark.journey
async def test_records_keep_their_schedule_while_serving_is_slow(kafka: str) -> None:
    # 0.5 s per answer, 100 records at 100/s: in time only if scoring never holds the stream.
    fake = FakeServing(delay=0.5)
    fake.model = True
    started = time.monotonic()
    ticks = await drive(fake, config(count=100, rate=100), kafka)
    assert time.monotonic() - started < 15.0  # one at a time would take 50 s
    assert ticks[-1].at < 4.0
    assert all(t.model_id == "m-1" for t in ticks)
    assert fake.asked == []  # no admin API given: the driver asks for nothing


@pytest.mark.journey
async def test_a_first_experiment_without_a_model_is_asked_again_with_more_labels(
    kafka: str,
) -> None:
    fake = FakeServing(promote_on=2)
    async with running_server(fake.app()) as url:
        driver = LoopDriver(
            config(count=800, rate=200, label_delay=0.1),
            bootstrap_servers=kafka,
            serving_url=url,
            admin_url=url,
            admin_token=TOKEN,
            warmup=100,
        )
        ticks = await driver.run()
    assert len(fake.asked) == 2 and fake.asked[1] >= fake.asked[0] + 100
    assert driver.requested == ["e-1", "e-2"]
    assert ticks[-1].model_id == "m-1"


@pytest.mark.journey
async def test_labels_serving_keeps_refusing_are_given_up_and_the_run_ends(kafka: str) -> None:
    fake = FakeServing()
    fake.model = True

    async def refused(request: Request) -> JSONResponse:
        return JSONResponse({"detail": "store unreachable"}, 503)

    fake.feedback = refused  # type: ignore[method-assign]
    chosen = config(count=50, rate=100, label_delay=0.1)
    async with running_server(fake.app()) as url:
        driver = LoopDriver(chosen, bootstrap_servers=kafka, serving_url=url, label_patience=1.0)
        # Retried for ever, the run would never end: it is stopped well after its patience.
        ticks = await asyncio.wait_for(driver.run(), timeout=60)
    assert len(ticks) == 50
    assert (driver.labels_sent, driver.labels_given_up) == (0, 50)
    assert driver.labels_retried > 0


def ticks_of(correct: list[bool]) -> list[Tick]:
    return [
        Tick(i, i / 10, 1 if ok else 0, 1, ok, "m", 1 if ok else None)
        for i, ok in enumerate(correct)
    ]


def test_sliding_and_ranged_accuracy_count_exactly_the_records_in_them() -> None:
    ticks = ticks_of([False, True, True, False, True, True])
    assert sliding_accuracy(ticks, 3) == [0.0, 0.5, 2 / 3, 2 / 3, 2 / 3, 2 / 3]
    assert accuracy(ticks, 1, 3) == 1.0
    assert accuracy(ticks, 0, 6) == 4 / 6
    assert accuracy(ticks, 10, 20) is None


def test_the_plot_is_written_as_png_and_html_with_every_marker(tmp_path: Path) -> None:
    ticks = ticks_of([True] * 50 + [False] * 30 + [True] * 40)
    markers = [
        Marker(50, "change", "concept 2"),
        Marker(70, "alarm", "page_hinkley"),
        Marker(80, "promotion", "v2 gate"),
    ]
    write_png(tmp_path / "a.png", ticks, markers, 20, "title")
    write_html(tmp_path / "a.html", ticks, markers, 20, "title")
    assert (tmp_path / "a.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    html = (tmp_path / "a.html").read_text()
    for text in ("concept change (true)", "drift alarm", "promotion", "v2 gate"):
        assert text in html
