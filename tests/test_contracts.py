"""Contracts: every event round-trips through JSON, carries its ids, and ignores unknown fields."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from enum import Enum
from typing import Any
from uuid import uuid4

import pytest
from pydantic import BaseModel, ValidationError

import driftloop_contracts
from driftloop_contracts import (
    EVENTS,
    TOPICS,
    DriftDetected,
    DriftSource,
    Event,
    ExperimentCompleted,
    ExperimentStatus,
    ModelPromoted,
    PromotionReason,
    Record,
    Severity,
    TrialRequested,
)

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
SHA = "ab" * 32


def example(event: type[Event]) -> Event:
    """An instance of ``event`` with every field set: optional ones too, so all round-trip."""
    values: dict[str, Any] = {"causation_id": uuid4(), "occurred_at": NOW}
    for name, field in event.model_fields.items():
        if name in values or name == "schema_version":
            continue
        if field.is_required() or name in SAMPLES:
            values[name] = _value_for(name, field.annotation)
    return event(**values)


SAMPLES: dict[str, Any] = {
    "stream": "agrawal",
    "batch_id": uuid4(),
    "window_start": NOW,
    "window_end": NOW,
    "artifact_sha256": SHA,
    "version": 1,
    "model_version": 1,
    "budget_trials": 10,
    "budget_seconds": 60.0,
    "timeout_seconds": 30.0,
    "seed": 7,
    "attempt": 2,
    "source": DriftSource.ERRORS,
    "severity": Severity.HIGH,
    "status": ExperimentStatus.COMPLETED,
    "reason": "because",
    "trigger": "manual",
    "action": "pause",
    "verdict": "promote",
    "approved": True,
    "alpha": 0.05,
    "min_gain": 0.0,
    "candidate_score": 0.9,
    "statistic": 1.5,
    "duration_seconds": 1.0,
    "trials_run": 3,
    "stored": 1,
    "duplicates": 0,
    "rejected": 0,
    "labelled": 1,
    "records_seen": 1000,
    "params": {"C": 1.0},
    "metrics": {"accuracy": 0.9},
    "features": {"x": 1.0},
    "serving_id": 3,
    "threshold": 0.5,
    "report_uri": "s3://r.html",
    "model_id": "m-1",
    "experiment_id": "e-1",
    "champion_id": "m-0",
    "champion_score": 0.8,
    "p_value": 0.01,
    "first_event_time": NOW,
    "last_event_time": NOW,
    "probability": 0.7,
    "previous_model_id": "m-0",
    "field": "features.x",
    "worker": "w-1",
    "record_id": "r-1",
    "best_trial_id": "t-1",
    "candidate_model_id": "m-0",
    "snapshot_hash": SHA,
    "best_metrics": {"accuracy": 0.9},
    "seeded_from": ("e-0",),
    "extra": {"k": "v"},
    "to_version": 2,
    "source_partition": 0,
    "source_offset": 42,
    "spec": "stream: s",
    "source_topic": "driftloop.records.v2",
    "prediction": 1,
    "label": 1,
    "payload": "{}",
}


def _value_for(name: str, annotation: Any) -> Any:
    if name == "features" and "tuple" in str(annotation):
        return ("x",)
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return next(iter(annotation))
    if name in SAMPLES:
        return SAMPLES[name]
    if name == "reason" or annotation is str:
        return f"{name}-1"
    raise AssertionError(f"no sample for required field {name}: {annotation}")


@pytest.mark.parametrize("event", EVENTS, ids=lambda e: e.__name__)
def test_every_event_round_trips_through_json(event: type[Event]) -> None:
    original = example(event)
    restored = event.parse(original.model_dump_json())
    assert restored == original
    assert restored.schema_version == 1


@pytest.mark.parametrize("event", EVENTS, ids=lambda e: e.__name__)
def test_every_event_is_frozen_and_has_identity(event: type[Event]) -> None:
    instance = example(event)
    assert instance.event_id and instance.occurred_at.tzinfo is not None
    with pytest.raises(ValidationError):
        instance.event_id = uuid4()  # type: ignore[misc]


@pytest.mark.parametrize("event", EVENTS, ids=lambda e: e.__name__)
def test_every_optional_field_survives_the_round_trip(event: type[Event]) -> None:
    instance = example(event)
    unset = [
        n
        for n, f in event.model_fields.items()
        if n != "schema_version"
        and not f.is_required()
        and getattr(instance, n) == f.get_default(call_default_factory=False)
    ]
    assert unset == [], f"example() leaves {unset} at their defaults"
    assert event.parse(instance.model_dump_json()) == instance


def test_a_timestamp_without_a_timezone_is_refused() -> None:
    data = example(ModelPromoted).model_dump() | {"occurred_at": "2026-11-23T12:00:00"}
    with pytest.raises(ValidationError, match="occurred_at"):
        ModelPromoted.model_validate(data)
    record = {"stream": "s", "record_id": "1", "event_time": "2026-11-23T12:00:00", "features": {}}
    with pytest.raises(ValidationError, match="event_time"):
        Record.model_validate(record)


def test_every_event_has_its_own_topic() -> None:
    assert len(set(TOPICS)) == len(TOPICS) == len(EVENTS) + 1
    assert all(topic.startswith("driftloop.") for topic in TOPICS)


def test_unknown_fields_are_ignored_so_newer_producers_break_no_consumer() -> None:
    data = json.loads(example(ModelPromoted).model_dump_json())
    data["field_from_the_future"] = {"nested": True}
    assert ModelPromoted.parse(json.dumps(data)).model_id == data["model_id"]


def test_then_chains_cause_to_effect_and_carries_ids() -> None:
    trial = example(TrialRequested)
    assert isinstance(trial, TrialRequested)
    completed = trial.then(ExperimentCompleted, status=ExperimentStatus.COMPLETED, trials_run=1)
    assert completed.causation_id == trial.event_id
    assert (completed.stream, completed.experiment_id) == (trial.stream, trial.experiment_id)
    assert completed.event_id != trial.event_id


def test_then_lets_the_effect_override_a_carried_id() -> None:
    drift = example(DriftDetected)
    promoted = drift.then(
        ModelPromoted,
        stream="other",
        model_id="m",
        version=2,
        artifact_sha256=SHA,
        reason=PromotionReason.RECURRING,
        serving_id=1,
    )
    assert (promoted.stream, promoted.model_id) == ("other", "m")
    assert promoted.causation_id == drift.event_id


def test_record_envelope_is_plain_json_any_client_can_send() -> None:
    raw = (
        '{"stream": "agrawal", "record_id": "r-1", "event_time": "2026-11-23T12:00:00Z",'
        ' "features": {"salary": 52000.5, "elevel": 2, "car": "c3"}, "label": 1}'
    )
    record = Record.model_validate_json(raw)
    assert record.features["salary"] == 52000.5 and record.label == 1


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"stream": "Bad Name"}, "stream"),
        ({"record_id": ""}, "record_id"),
        ({"event_time": "yesterday"}, "event_time"),
        ({"features": [1, 2]}, "features"),
    ],
)
def test_record_envelope_names_the_bad_field(patch: dict[str, Any], field: str) -> None:
    data = {"stream": "s", "record_id": "1", "event_time": NOW.isoformat(), "features": {}, **patch}
    with pytest.raises(ValidationError) as caught:
        Record.model_validate(data)
    assert caught.value.errors()[0]["loc"][0] == field


def test_artifact_hash_must_be_sha256_hex() -> None:
    data = example(ModelPromoted).model_dump() | {"artifact_sha256": "not-a-hash"}
    with pytest.raises(ValidationError, match="artifact_sha256"):
        ModelPromoted.model_validate(data)


def test_public_surface_is_exactly_what_all_lists() -> None:
    public = {n for n in dir(driftloop_contracts) if not n.startswith("_")}
    modules = {"drift", "experiments", "models", "records", "serving"}
    assert public - modules == set(driftloop_contracts.__all__)
    for event in EVENTS:
        assert issubclass(event, BaseModel) and event.__name__ in driftloop_contracts.__all__
