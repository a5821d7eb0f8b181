"""Ingestion's validation: every kind of bad record is refused with its field and reason."""

from __future__ import annotations

import doctest
import json
import random
from datetime import UTC, datetime
from types import ModuleType
from typing import Any

import pytest

import driftloop_ingestion.check
import driftloop_ingestion.retry
import driftloop_ingestion.validation
from driftloop_contracts import Record
from driftloop_ingestion.check import Accepted, Schemas
from driftloop_ingestion.check import _fast as fast_path
from driftloop_ingestion.validation import Kind, Rejection, StreamSchema, validate
from driftloop_spec import Task

SCHEMA = StreamSchema(
    "orders",
    {"amount": "float", "items": "int", "gift": "bool", "country": "category"},
    "fraud",
    "classification",
)
SCHEMAS = {"orders": SCHEMA}
LIMIT = 1024


def record(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "stream": "orders",
        "record_id": "o-1",
        "event_time": "2026-11-23T12:00:00Z",
        "features": {"amount": 12.5, "items": 2, "gift": False, "country": "PT"},
        "label": 1,
    }
    features = {**base["features"], **changes.pop("features", {})}
    merged = {**base, **changes, "features": features}
    return {key: value for key, value in merged.items() if value is not ...}


def without_feature(name: str) -> dict[str, Any]:
    data = record()
    del data["features"][name]
    return data


def judge(data: dict[str, Any] | bytes, schemas: dict[str, StreamSchema] = SCHEMAS) -> Any:
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()
    return validate(raw, schemas, max_bytes=LIMIT)


def rejected(data: dict[str, Any] | bytes) -> Rejection:
    verdict = judge(data)
    assert isinstance(verdict, Rejection), verdict
    return verdict


def test_a_record_that_fits_its_schema_is_accepted_as_the_contract_reads_it() -> None:
    verdict = judge(record())
    assert verdict == Record(
        stream="orders",
        record_id="o-1",
        event_time=datetime(2026, 11, 23, 12, tzinfo=UTC),
        features={"amount": 12.5, "items": 2, "gift": False, "country": "PT"},
        label=1,
    )


@pytest.mark.parametrize(
    "features",
    [{"amount": 3}, {"country": 7}, {"amount": -0.0}],
    ids=["int-as-float", "int-as-category", "negative-zero"],
)
def test_lenient_but_lossless_feature_values_are_accepted(features: dict[str, Any]) -> None:
    assert isinstance(judge(record(features=features)), Record)


def test_a_record_without_a_label_or_with_a_null_label_is_accepted() -> None:
    assert isinstance(judge(record(label=...)), Record)
    assert isinstance(judge(record(label=None)), Record)


def test_unknown_top_level_fields_are_ignored_as_in_every_contract() -> None:
    assert isinstance(judge(record(source="sensor-7")), Record)


CASES: list[tuple[str, dict[str, Any] | bytes, Kind, str | None, str]] = [
    ("not-json", b"\xff\xfe not json", Kind.NOT_JSON, None, "not JSON"),
    ("empty", b"", Kind.NOT_JSON, None, "not JSON"),
    ("json-array", b"[1, 2]", Kind.NOT_AN_OBJECT, None, "not a JSON object"),
    ("oversize", record(note="x" * LIMIT), Kind.TOO_LARGE, None, "the limit is 1024"),
    ("no-record-id", record(record_id=...), Kind.MISSING_FIELD, "record_id", "required"),
    ("no-stream", record(stream=...), Kind.MISSING_FIELD, "stream", "required"),
    ("no-features", {**record(), "features": []}, Kind.INVALID_FIELD, "features", "object"),
    ("empty-record-id", record(record_id=""), Kind.INVALID_FIELD, "record_id", "at least 1"),
    ("numeric-record-id", record(record_id=5), Kind.INVALID_FIELD, "record_id", "string"),
    ("bad-stream-name", record(stream="Orders"), Kind.INVALID_FIELD, "stream", "pattern"),
    (
        "naive-time",
        record(event_time="2026-11-23T12:00:00"),
        Kind.INVALID_FIELD,
        "event_time",
        "time zone",
    ),
    ("not-a-time", record(event_time="yesterday"), Kind.INVALID_FIELD, "event_time", "datetime"),
    ("unknown-stream", record(stream="returns"), Kind.UNKNOWN_STREAM, "stream", "registered"),
    (
        "missing-feature",
        without_feature("items"),
        Kind.MISSING_FEATURE,
        "features.items",
        "required by stream orders",
    ),
    (
        "unknown-feature",
        record(features={"colour": "red"}),
        Kind.UNKNOWN_FEATURE,
        "features.colour",
        "not in the schema of stream orders",
    ),
    (
        "float-for-int",
        record(features={"items": 1.5}),
        Kind.WRONG_TYPE,
        "features.items",
        "expected int, got float 1.5",
    ),
    (
        "bool-for-int",
        record(features={"items": True}),
        Kind.WRONG_TYPE,
        "features.items",
        "expected int, got bool True",
    ),
    (
        "bool-for-float",
        record(features={"amount": False}),
        Kind.WRONG_TYPE,
        "features.amount",
        "expected float, got bool False",
    ),
    (
        "string-for-float",
        record(features={"amount": "12.5"}),
        Kind.WRONG_TYPE,
        "features.amount",
        "expected float, got string '12.5'",
    ),
    (
        "int-for-bool",
        record(features={"gift": 1}),
        Kind.WRONG_TYPE,
        "features.gift",
        "expected bool, got int 1",
    ),
    (
        "float-for-category",
        record(features={"country": 1.0}),
        Kind.WRONG_TYPE,
        "features.country",
        "expected string or int, got float 1.0",
    ),
    (
        "null-feature",
        record(features={"amount": None}),
        Kind.WRONG_TYPE,
        "features.amount",
        "expected float, got null",
    ),
    (
        "huge-int",
        record(features={"items": 2**64}),
        Kind.WRONG_TYPE,
        "features.items",
        "out of its range",
    ),
    (
        "list-feature",
        record(features={"amount": [1]}),
        Kind.INVALID_FIELD,
        "features.amount",
        "must be a number, string, boolean or null",
    ),
    (
        "float-label-for-classification",
        record(label=0.5),
        Kind.INVALID_LABEL,
        "label",
        "a class must be an int, string or bool, got float 0.5",
    ),
    ("object-label", record(label={"a": 1}), Kind.INVALID_FIELD, "label", "must be a number"),
    (
        "nul-in-record-id",
        record(record_id="o\x001"),
        Kind.UNSTORABLE,
        "record_id",
        "NUL character",
    ),
    (
        "nul-in-category",
        record(features={"country": "P\x00T"}),
        Kind.UNSTORABLE,
        "features.country",
        "NUL character",
    ),
]


@pytest.mark.parametrize(
    ("data", "kind", "field", "reason"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_a_malformed_record_is_rejected_naming_its_field_and_reason(
    data: dict[str, Any] | bytes, kind: Kind, field: str | None, reason: str
) -> None:
    rejection = rejected(data)
    assert (rejection.kind, rejection.field) == (kind, field)
    assert reason in rejection.reason


@pytest.mark.parametrize(
    ("literal", "shown"),
    [("NaN", "NaN"), ("Infinity", "Infinity"), ("-Infinity", "-Infinity"), ("1e999", "Infinity")],
)
def test_non_finite_numbers_are_rejected_naming_the_feature(literal: str, shown: str) -> None:
    raw = json.dumps(record()).replace('"amount": 12.5', f'"amount": {literal}').encode()
    rejection = rejected(raw)
    assert (rejection.kind, rejection.field) == (Kind.NOT_FINITE, "features.amount")
    assert rejection.reason == f"must be a finite number, got {shown}"


def test_a_non_finite_label_is_rejected_naming_the_label() -> None:
    raw = json.dumps(record()).replace('"label": 1', '"label": NaN').encode()
    assert (rejected(raw).kind, rejected(raw).field) == (Kind.NOT_FINITE, "label")


def test_a_rejection_names_the_stream_and_record_when_the_message_gives_them() -> None:
    rejection = rejected(record(event_time="2026-11-23T12:00:00"))
    assert (rejection.stream, rejection.record_id) == ("orders", "o-1")
    assert rejected(b"nope").stream is None


def test_the_size_limit_is_checked_before_the_message_is_read() -> None:
    raw = b"{" + b" " * LIMIT + b"}"
    assert rejected(raw).kind is Kind.TOO_LARGE
    assert isinstance(validate(json.dumps(record()).encode(), SCHEMAS, max_bytes=1000), Record)


def test_a_regression_stream_takes_numeric_labels_only() -> None:
    schemas = {"orders": StreamSchema("orders", SCHEMA.features, "amount", "regression")}
    assert isinstance(judge(record(label=3.25), schemas), Record)
    assert isinstance(judge(record(label=3), schemas), Record)
    for label in ("high", True):
        verdict = judge(record(label=label), schemas)
        assert isinstance(verdict, Rejection)
        assert (verdict.kind, verdict.field) == (Kind.INVALID_LABEL, "label")


def test_a_stream_without_a_task_takes_any_finite_scalar_label() -> None:
    schemas = {"orders": StreamSchema("orders", SCHEMA.features, "fraud")}
    for label in (0.5, "yes", True, 2):
        assert isinstance(judge(record(label=label), schemas), Record)


def test_a_schema_type_the_spec_does_not_know_is_reported_as_such() -> None:
    schemas = {"orders": StreamSchema("orders", {"amount": "decimal"}, "fraud")}
    verdict = judge({**record(), "features": {"amount": 1.0}}, schemas)
    assert isinstance(verdict, Rejection)
    assert "unsupported type 'decimal'" in verdict.reason


@pytest.mark.parametrize(
    "module",
    [driftloop_ingestion.validation, driftloop_ingestion.check, driftloop_ingestion.retry],
)
def test_the_module_examples_run(module: ModuleType) -> None:
    assert doctest.testmod(module).failed == 0


# The fast path (check.judge) must accept exactly what `validate` accepts, with the same values.

TASKS: list[Task | None] = ["classification", "regression", None]


def literals(text: str) -> list[str]:
    """JSON literals, one per word."""
    return text.split()


# Literals near the edges of what a record may hold.
ODD_VALUES = [
    *literals(r"""
        0 -0 -0.0 1.5 2 1e2 1E-7 1e20 1e999 -1e999 NaN Infinity 9223372036854775807
        9223372036854775808 -9223372036854775809 18446744073709551616 true false null "PT" ""
        "P\u0000T" "\u00e9\ud83d\ude00" "1.5" [1] {} {"a":1}
    """),
    "1" + "0" * 400,
]
ODD_TIMES = [
    *literals(r"""
        "2026-11-23T12:00:00Z" "2026-11-23T12:00:00.123456+05:30" "2026-11-23T12:00:00.1234567Z"
        "2026-11-23t12:00:00z" "2026-11-23T12:00:00" "2026-11-23" "2026-11-23T24:00:00Z"
        "2026-02-30T12:00:00Z" "2026-11-23T12:00:00-00:00" "2026-11-23T12:00:00+23:59"
        "2026-11-23T12:00Z" "1700000000" 1700000000 1.7e9 null "soon"
    """),
    '"2026-11-23 12:00:00Z"',
]
ODD_IDS = ['"o-1"', '""', '"' + "x" * 128 + '"', '"' + "é" * 129 + '"', '"o\\u00001"', "7"]
ODD_STREAMS = ['"orders"', '"Orders"', '"returns"', '"orders\\n"', "1", "null"]


def generated(rng: random.Random) -> bytes:
    """A message near the edge of validity, as raw JSON text (NaN and duplicates included)."""

    def odd(usual: str, choices: list[str], often: float = 0.15) -> str:
        return rng.choice(choices) if rng.random() < often else usual

    plain = {"amount": "12.5", "items": "2", "gift": "false", "country": '"PT"'}
    features = {name: odd(value, ODD_VALUES) for name, value in plain.items()}
    if rng.random() < 0.1:
        del features[rng.choice(list(features))]
    if rng.random() < 0.1:
        features["colour"] = '"red"'
    fields = {
        "stream": odd('"orders"', ODD_STREAMS),
        "record_id": odd('"o-1"', ODD_IDS),
        "event_time": odd('"2026-11-23T12:00:00Z"', ODD_TIMES, often=0.5),
        "features": "{" + ", ".join(f'"{k}": {v}' for k, v in features.items()) + "}",
        "label": odd("1", ODD_VALUES, often=0.5),
    }
    if rng.random() < 0.1:
        del fields[rng.choice(list(fields))]
    text = "{" + ", ".join(f'"{k}": {v}' for k, v in fields.items())
    if rng.random() < 0.05:
        text += ', "stream": "orders", "features": {"amount": 1}'  # duplicate keys: last wins
    return (text + "}").encode()


def reference(raw: bytes, schemas: dict[str, StreamSchema]) -> Accepted | Rejection:
    verdict = validate(raw, schemas, max_bytes=LIMIT)
    return verdict if isinstance(verdict, Rejection) else Accepted.of(verdict)


@pytest.mark.parametrize("task", TASKS)
def test_the_fast_path_accepts_exactly_what_validate_accepts_with_the_same_values(
    task: Task | None,
) -> None:
    schemas = {"orders": StreamSchema("orders", SCHEMA.features, "fraud", task)}
    compiled = Schemas(schemas)
    rng = random.Random(f"fast-path-{task}")
    fast = 0
    for _ in range(5000):
        raw = generated(rng)
        verdict = driftloop_ingestion.check.judge(raw, compiled, max_bytes=LIMIT)
        expected = reference(raw, schemas)
        assert verdict == expected, raw
        if isinstance(expected, Accepted):
            assert isinstance(verdict, Accepted)
            assert verdict.event_time.utcoffset() == expected.event_time.utcoffset(), raw
        fast += fast_path(raw, compiled) is not None
    assert fast > 500  # the generator reaches the fast path, not only the fallback


def test_plain_records_take_the_fast_path() -> None:
    raw = json.dumps(record()).encode()
    assert fast_path(raw, Schemas(SCHEMAS)) == reference(raw, SCHEMAS)
    odd = {"orders": StreamSchema("orders", {"amount": "decimal"}, "fraud")}
    assert fast_path(raw, Schemas(odd)) is None  # a type the spec does not know: validate
