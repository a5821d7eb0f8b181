"""Producing: synthetic drifting streams, files, and the real producer through the broker."""

from __future__ import annotations

import asyncio
import json
import random
import uuid
from pathlib import Path

import pytest
from typer.testing import CliRunner

from driftloop.cli import app
from driftloop.produce import file_records
from driftloop.synthetic import Change, concept_at, examples, records
from driftloop_contracts import Record

from .helpers import read_topic


def test_an_abrupt_change_switches_concept_exactly_at_its_index() -> None:
    rng = random.Random(0)
    concepts = [concept_at(i, [Change(100)], rng) for i in range(200)]
    assert concepts.index(1) == 100
    assert set(concepts[:100]) == {0}
    assert set(concepts[100:]) == {1}


def test_a_gradual_change_mixes_concepts_across_its_width() -> None:
    rng = random.Random(0)
    concepts = [concept_at(i, [Change(1000, 400)], rng) for i in range(2000)]
    assert sum(concepts[:500]) <= 5
    assert sum(concepts[1500:]) >= 495
    assert 100 < sum(concepts[800:1200]) < 300


def test_a_recurring_concept_labels_like_its_first_occurrence() -> None:
    """Agrawal concept 0 then 4 then 0: segments 1 and 3 follow the same labelling rule."""
    stream = list(
        examples("agrawal", 3000, changes=[Change(1000), Change(2000)], concepts=[0, 4, 0])
    )
    same_as_first = sum(_agrawal_0(x) == y for x, y in stream[2000:]) / 1000
    different = sum(_agrawal_0(x) == y for x, y in stream[1000:2000]) / 1000
    assert same_as_first == 1.0
    assert different < 0.9


def _agrawal_0(x: dict[str, float]) -> int:
    # river's Agrawal classification function 0: group A by age alone.
    return int(x["age"] < 40 or x["age"] >= 60)


def test_synthetic_records_are_deterministic_envelopes() -> None:
    first = list(records("demo", "sea", 50, seed=7))
    assert first == list(records("demo", "sea", 50, seed=7))
    assert first != list(records("demo", "sea", 50, seed=8))
    parsed = Record.model_validate(first[0])
    assert (parsed.stream, parsed.record_id) == ("demo", "demo-000000000")
    assert set(parsed.features) == {"x0", "x1", "x2"}


def test_mismatched_concepts_fail_before_producing() -> None:
    with pytest.raises(ValueError, match="2 changes need 3 concepts"):
        examples("agrawal", 10, changes=[Change(3), Change(6)], concepts=[0, 1])
    with pytest.raises(ValueError, match="unknown generator"):
        examples("nope", 10)


def test_csv_and_jsonl_files_become_envelopes(tmp_path: Path) -> None:
    csv_file = tmp_path / "orders.csv"
    csv_file.write_text("record_id,amount,country,label\no-1,12.5,fr,1\no-2,,de,0\n")
    rows = list(file_records(csv_file, "orders"))
    assert rows[0]["features"] == {"amount": 12.5, "country": "fr"}
    assert (rows[0]["record_id"], rows[0]["label"]) == ("o-1", 1)
    assert rows[1]["features"]["amount"] is None

    lines = tmp_path / "orders.jsonl"
    lines.write_text('{"amount": 3, "label": 0}\n\n{"record_id": "x", "features": {"a": 1}}\n')
    flat, envelope = list(file_records(lines, "orders"))
    assert (flat["record_id"], flat["features"], flat["label"]) == (
        "orders-000000000",
        {"amount": 3},
        0,
    )
    assert (envelope["record_id"], envelope["features"]) == ("x", {"a": 1})


@pytest.mark.journey
def test_produce_sends_plain_json_keyed_by_record_id(kafka: str, tmp_path: Path) -> None:
    stream = f"p{uuid.uuid4().hex[:8]}"
    result = CliRunner().invoke(
        app,
        [
            "produce",
            "sea",
            "--stream",
            stream,
            "--count",
            "500",
            "--change",
            "250",
            "--home",
            str(tmp_path),
        ],
        env={"KAFKA_BOOTSTRAP_SERVERS": kafka},
    )
    assert result.exit_code == 0, result.output
    assert "sent 500 records" in result.output

    mine = [
        (k, v)
        for k, v in asyncio.run(read_topic(kafka, Record.topic))
        # The topic is shared: ingestion's tests send bytes that are not JSON to it too.
        if stream.encode() in v and json.loads(v)["stream"] == stream
    ]
    assert len(mine) == 500
    for key, value in mine:
        record = Record.model_validate_json(value)
        assert key == record.record_id.encode()
