"""Prediction and feedback requests against a stream's schema: every refusal names the field
and the reason, in ingestion's words; every accepted request comes out typed."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import pytest

from driftloop_serving.rules import Problem
from driftloop_serving.validation import Invalid, StreamSchema, StreamValidator, parse_body

SCHEMA = StreamSchema(
    "orders",
    {"amount": "float", "items": "int", "country": "category", "gift": "bool"},
    "fraud",
    task="classification",
)
CHECK = StreamValidator(SCHEMA, max_batch=3)
GOOD = {"amount": 12.5, "items": 2, "country": "PT", "gift": False}


def refusal(data: dict[str, Any], labels: bool = False) -> tuple[int, Problem]:
    with pytest.raises(Invalid) as caught:
        CHECK.labels(data) if labels else CHECK.scoring(data)
    return caught.value.status, caught.value.problem


def test_a_single_record_is_accepted_and_given_an_id() -> None:
    scoring = CHECK.scoring({"stream": "orders", "features": GOOD})
    assert not scoring.batch
    [(record_id, features)] = scoring.records
    assert UUID(record_id).version == 4 and str(UUID(record_id)) == record_id
    assert features == GOOD


def test_made_up_ids_never_repeat_past_a_stock_of_them() -> None:
    made = [CHECK.scoring({"stream": "orders", "features": GOOD}).records[0][0] for _ in range(600)]
    assert len(set(made)) == 600
    assert {UUID(record_id).version for record_id in made} == {4}


def test_a_batch_keeps_the_ids_it_was_given_and_int_amounts_pass_as_floats() -> None:
    records = [{"record_id": "o-1", "features": GOOD}, {"features": {**GOOD, "amount": 3}}]
    scoring = CHECK.scoring({"stream": "orders", "records": records})
    assert scoring.batch
    assert scoring.records[0] == ("o-1", GOOD)
    assert scoring.records[1][1]["amount"] == 3.0


@pytest.mark.parametrize(
    ("features", "field", "reason"),
    [
        (
            {k: v for k, v in GOOD.items() if k != "items"},
            "features.items",
            "required by stream orders",
        ),
        ({**GOOD, "items": "2"}, "features.items", "expected int, got string '2'"),
        ({**GOOD, "items": 2.0}, "features.items", "expected int, got float 2.0"),
        ({**GOOD, "gift": 1}, "features.gift", "expected bool, got int 1"),
        ({**GOOD, "amount": True}, "features.amount", "expected float, got bool True"),
        ({**GOOD, "amount": float("nan")}, "features.amount", "must be a finite number, got NaN"),
        (
            {**GOOD, "amount": float("-inf")},
            "features.amount",
            "must be a finite number, got -Infinity",
        ),
        ({**GOOD, "amount": None}, "features.amount", "expected float, got null"),
        ({**GOOD, "country": 1.5}, "features.country", "expected string or int, got float 1.5"),
        (
            {**GOOD, "country": ["PT"]},
            "features.country",
            "must be a number, string, boolean or null",
        ),
        ({**GOOD, "items": 2**70}, "features.items", "expected int, got an int out of its range"),
        ({**GOOD, "colour": "red"}, "features.colour", "not in the schema of stream orders"),
    ],
)
def test_a_bad_feature_is_named_with_the_reason(
    features: dict[str, Any], field: str, reason: str
) -> None:
    assert refusal({"stream": "orders", "features": features}) == (422, Problem(field, reason))


@pytest.mark.parametrize(
    ("data", "field", "reason"),
    [
        ({"stream": "orders"}, "features", "required"),
        ({"stream": "orders", "features": [1, 2]}, "features", "must be a JSON object"),
        ({"stream": "orders", "features": GOOD, "label": 1}, "label", "unknown field"),
        ({"stream": "orders", "record_id": "", "features": GOOD}, "record_id", "must not be empty"),
        ({"stream": "orders", "record_id": 7, "features": GOOD}, "record_id", "must be a string"),
        ({"stream": "orders", "records": {}}, "records", "must be a list"),
        ({"stream": "orders", "records": []}, "records", "must hold at least one item"),
        (
            {"stream": "orders", "records": [{"features": GOOD}, 5]},
            "records.1",
            "must be a JSON object",
        ),
    ],
)
def test_a_bad_request_shape_is_named_with_the_reason(
    data: dict[str, Any], field: str, reason: str
) -> None:
    assert refusal(data) == (422, Problem(field, reason))


def test_a_bad_record_in_a_batch_is_named_by_its_position() -> None:
    records = [{"features": GOOD}, {"features": {**GOOD, "gift": "yes"}}]
    status, problem = refusal({"stream": "orders", "records": records})
    assert (status, problem.field) == (422, "records.1.features.gift")


def test_a_batch_over_the_limit_is_refused_before_it_is_read() -> None:
    records = [{"features": GOOD}] * 4 + [{"features": "not even checked"}]
    assert refusal({"stream": "orders", "records": records}) == (
        413,
        Problem("records", "at most 3 per request, got 5"),
    )


def test_labels_must_fit_the_task() -> None:
    assert CHECK.labels({"stream": "orders", "record_id": "o-1", "label": True}).labels == [
        ("o-1", True)
    ]
    assert refusal({"stream": "orders", "record_id": "o-1", "label": 0.5}, labels=True) == (
        422,
        Problem("label", "a class must be an int, string or bool, got float 0.5"),
    )
    assert refusal({"stream": "orders", "labels": [{"record_id": "o-1"}]}, labels=True) == (
        422,
        Problem("labels.0.label", "required: the true label of the record"),
    )


def test_a_regression_stream_takes_numbers_only() -> None:
    check = StreamValidator(StreamSchema("prices", {"x": "float"}, "y", "regression"), 10)
    assert check.labels({"stream": "prices", "record_id": "p", "label": 2.5}).labels == [("p", 2.5)]
    with pytest.raises(Invalid) as caught:
        check.labels({"stream": "prices", "record_id": "p", "label": "high"})
    assert caught.value.problem.reason == "must be a number for regression, got string 'high'"


def test_a_schema_type_nobody_knows_refuses_every_value_and_says_so() -> None:
    check = StreamValidator(StreamSchema("odd", {"x": "decimal"}, "y"), 10)
    with pytest.raises(Invalid) as caught:
        check.scoring({"stream": "odd", "features": {"x": 1}})
    assert caught.value.problem == Problem(
        "features.x", "the stream's schema has the unsupported type 'decimal'"
    )


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"{not json", "not JSON: key must be a string at line 1 column 2"),
        (b"[1, 2]", "must be a JSON object"),
        (b"", "not JSON: EOF while parsing a value at line 1 column 0"),
    ],
)
def test_a_body_that_is_not_a_json_object_is_a_400(body: bytes, reason: str) -> None:
    with pytest.raises(Invalid) as caught:
        parse_body(body)
    assert (caught.value.status, caught.value.problem) == (400, Problem("body", reason))


def test_nan_in_the_body_is_read_so_that_it_can_be_refused_by_name() -> None:
    data = parse_body(b'{"stream": "orders", "features": {"amount": NaN}}')
    assert data["features"]["amount"] != data["features"]["amount"]
