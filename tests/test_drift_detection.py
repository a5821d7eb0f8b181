"""The drift service's domain: detectors, sentinel, cooldown and monitor on seeded streams.

Pure and synchronous, river style: seeded streams, exact indices.
"""

from __future__ import annotations

import doctest
import json
import random
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import pytest

from driftloop.synthetic import FEATURES, Change, examples
from driftloop_contracts import DriftDetected, DriftSource, RecordsIngested, Severity
from driftloop_drift.alarms import drift_alert, drift_event, evidence
from driftloop_drift.detectors import KINDS, Mark, Watch, is_binary
from driftloop_drift.monitor import Alarm, StoredRecord, StreamMonitor
from driftloop_drift.shift import locate_shift, severity
from driftloop_spec import DETECTOR_PARAMS, DetectorKind, ExperimentSpec, validate_spec

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def spec(
    features: dict[str, str] | None = None,
    *,
    task: str = "classification",
    detectors: list[dict[str, Any]] | None = None,
    cooldown: int | str = 1000,
) -> ExperimentSpec:
    trigger: dict[str, Any] = {"cooldown": cooldown}
    if detectors is not None:
        trigger["detectors"] = detectors
    return validate_spec(
        {
            "stream": "s",
            "task": task,
            "target": "y",
            "features": features or FEATURES["agrawal"],
            "families": ["sklearn.random_forest"],
            "triggers": {"drift": trigger},
        }
    )


def stored(pairs: Iterable[tuple[dict[str, Any], Any]]) -> list[StoredRecord]:
    return [
        StoredRecord(f"r{i:05d}", T0 + timedelta(seconds=i), x, y) for i, (x, y) in enumerate(pairs)
    ]


def alarms_of(
    monitor: StreamMonitor, records: list[StoredRecord], champion: str | None = None
) -> list[Alarm]:
    # One record per call, as batches of one: where batches split must not matter.
    return [alarm for record in records for alarm in monitor.observe([record], champion)]


def errors(rates: list[tuple[int, float]], seed: int = 1) -> list[float]:
    """A 0/1 error stream: ``count`` values at each error ``rate`` in turn."""
    rng = random.Random(seed)
    return [float(rng.random() < rate) for count, rate in rates for _ in range(count)]


def ingested() -> RecordsIngested:
    return RecordsIngested(
        stream="s", batch_id=uuid4(), stored=1, duplicates=0, rejected=0, labelled=1
    )


def fired(watch: Watch, values: list[float]) -> list[tuple[int, int]]:
    found = []
    for i, value in enumerate(values):
        if detection := watch.update(value, Mark(str(i), T0 + timedelta(seconds=i))):
            found.append((i, int(detection.change.record_id)))
    return found


# Modules


@pytest.mark.parametrize("module", ["shift", "detectors", "sentinel", "cooldown", "joins"])
def test_docstring_examples_run(module: str) -> None:
    result = doctest.testmod(__import__(f"driftloop_drift.{module}", fromlist=["_"]))

    assert result.attempted > 0
    assert result.failed == 0


# Where a change began and how large it is


def test_a_step_in_the_mean_is_located_where_it_began() -> None:
    values = errors([(300, 0.1), (60, 0.6)])

    shift = locate_shift(values)

    assert shift.index == 300
    assert (round(shift.before, 3), round(shift.after, 3)) == (0.113, 0.617)
    assert shift.rose and shift.since_change == 60


def test_severity_follows_the_standardised_size_of_the_change() -> None:
    assert [severity(d) for d in (0.2, -0.5, 0.79, 0.8, -3.0)] == [
        Severity.LOW,
        Severity.MEDIUM,
        Severity.MEDIUM,
        Severity.HIGH,
        Severity.HIGH,
    ]


# Detectors as the spec names them


@pytest.mark.parametrize("kind", sorted(DETECTOR_PARAMS))
def test_every_spec_detector_kind_builds_with_its_defaults(kind: DetectorKind) -> None:
    watch = Watch(kind, {}, source=DriftSource.ERRORS, series="m")

    assert watch.update(0.0, Mark("r", T0)) is None


def test_the_binary_detectors_are_the_ones_the_spec_keeps_to_errors() -> None:
    assert {kind for kind in KINDS if is_binary(kind)} == {
        "ddm",
        "eddm",
        "hddm_a",
        "hddm_w",
        "fhddm",
    }


@pytest.mark.parametrize(
    ("kind", "alarm", "change"),
    [
        ("adwin", 2047, 2009),
        ("kswin", 2038, 2009),
        ("ddm", 2034, 2000),
        ("hddm_a", 2086, 2000),
        ("hddm_w", 2027, 2000),
        # FHDDM watches for a drop in its input: fed right answers, it sees errors rise.
        ("fhddm", 2042, 2009),
    ],
)
def test_error_detectors_see_the_error_rate_rise_from_10_to_50_percent(
    kind: DetectorKind, alarm: int, change: int
) -> None:
    params = {"seed": 1} if kind == "kswin" else {}
    watch = Watch(kind, params, source=DriftSource.ERRORS, series="m")

    assert fired(watch, errors([(2000, 0.1), (2000, 0.5)])) == [(alarm, change)]


def test_page_hinkley_on_a_feature_sees_its_mean_shift_and_says_by_how_much() -> None:
    rng = random.Random(1)
    values = [rng.gauss(0.0 if i < 2000 else 2.0, 1.0) for i in range(2400)]
    watch = Watch("page_hinkley", {"threshold": 100}, source=DriftSource.FEATURES, series="x")

    detections = []
    for i, value in enumerate(values):
        if detection := watch.update(value, Mark(str(i), T0)):
            detections.append((i, detection))

    ((at, detection),) = detections
    assert (at, detection.change.record_id) == (2026, "2001")
    assert round(detection.shift.after - detection.shift.before, 2) == 1.93
    assert detection.threshold == 100.0


# The monitor: one alarm per change


def test_an_abrupt_agrawal_change_raises_one_alarm_55_records_after_it() -> None:
    monitor = StreamMonitor(spec())

    (alarm,) = alarms_of(
        monitor, stored(examples("agrawal", 10_000, seed=7, changes=[Change(5000)]))
    )

    found = alarm.detection
    assert (found.source, found.kind, found.series) == ("errors", "adwin", "sentinel")
    assert (found.alarm.record_id, found.change.record_id) == ("r05055", "r04989")
    assert (round(found.shift.before, 3), round(found.shift.after, 3)) == (0.32, 0.776)
    assert alarm.severity == Severity.HIGH
    assert found.seen == alarm.records == 5056


def test_a_stationary_agrawal_stream_of_the_same_length_raises_none() -> None:
    monitor = StreamMonitor(spec())

    assert alarms_of(monitor, stored(examples("agrawal", 10_000, seed=7))) == []
    assert monitor.status()["records"] == 10_000


def test_a_second_change_after_the_cooldown_is_a_second_alarm() -> None:
    monitor = StreamMonitor(spec())
    records = stored(examples("agrawal", 20_000, seed=7, changes=[Change(5000), Change(12_000)]))

    alarms = alarms_of(monitor, records)

    assert [a.detection.alarm.record_id for a in alarms] == ["r05055", "r12063"]


def test_fewer_errors_are_a_model_recovering_not_an_alarm() -> None:
    # Labels are coin flips, then follow x: the sentinel's errors fall from 50% to ~0.
    rng = random.Random(3)
    pairs = [({"x": rng.random()}, rng.random() < 0.5) for _ in range(3000)]
    pairs += [({"x": x}, x > 0.5) for x in (rng.random() for _ in range(3000))]
    monitor = StreamMonitor(spec({"x": "float"}))

    assert alarms_of(monitor, stored(pairs)) == []


def test_a_change_seen_by_a_feature_and_the_errors_is_one_alarm() -> None:
    # x jumps and the rule flips with it: Page-Hinkley on x and ADWIN on errors both fire.
    rng = random.Random(5)
    pairs = [({"x": x}, x > 0.5) for x in (rng.random() for _ in range(3000))]
    pairs += [({"x": x}, x < 2.5) for x in (2 + rng.random() for _ in range(3000))]
    detectors: list[dict[str, Any]] = [
        {"kind": "adwin", "on": "errors"},
        {"kind": "page_hinkley", "on": "features", "features": ["x"], "params": {"threshold": 50}},
    ]
    monitor = StreamMonitor(spec({"x": "float"}, detectors=detectors, cooldown=2000))

    (alarm,) = alarms_of(monitor, stored(pairs))

    assert (alarm.detection.source, alarm.detection.series) == ("features", "x")
    assert (alarm.detection.alarm.record_id, alarm.detection.change.record_id) == (
        "r03015",
        "r03000",
    )


def test_a_cooldown_in_time_silences_the_stream_by_event_time() -> None:
    records = stored(examples("agrawal", 20_000, seed=7, changes=[Change(5000), Change(12_000)]))
    # Records are a second apart: two hours cover both changes, a minute neither.
    long, short = StreamMonitor(spec(cooldown="2h")), StreamMonitor(spec(cooldown="1m"))

    assert len(alarms_of(long, records)) == 1
    assert len(alarms_of(short, records)) == 2


def test_with_a_champion_its_joined_errors_are_watched_not_the_sentinel() -> None:
    # The champion is right until record 3000, then wrong half the time.
    rng = random.Random(11)
    records = stored(({"x": rng.random()}, i % 2) for i in range(6000))
    monitor = StreamMonitor(spec({"x": "float"}))
    alarms = []
    for i, record in enumerate(records):
        prediction = record.label if i < 3000 or rng.random() < 0.5 else 1 - record.label
        # Predictions come before their labels, which arrive on the ingested records.
        alarms += monitor.prediction(record.record_id, "m-1", prediction, record.event_time)
        alarms += monitor.observe([record], champion="m-1")

    (alarm,) = alarms
    assert (alarm.detection.series, alarm.detection.alarm.record_id) == ("m-1", "r03039")
    assert monitor.status()["watching"] == ["errors:adwin:m-1"]


def test_feedback_after_the_prediction_joins_it() -> None:
    monitor = StreamMonitor(spec({"x": "float"}))
    for i in range(3000):
        monitor.prediction(f"r{i}", "m-1", 1, T0)
    alarms = [alarm for i in range(3000) for alarm in monitor.feedback(f"r{i}", int(i < 1500), T0)]

    assert [a.detection.alarm.record_id for a in alarms] == ["r1535"]


def test_a_regression_stream_leaves_out_detectors_that_read_right_and_wrong() -> None:
    detectors = [{"kind": "ddm", "on": "errors"}, {"kind": "adwin", "on": "errors"}]
    monitor = StreamMonitor(spec({"x": "float"}, task="regression", detectors=detectors))

    # A label that is no number has no error to watch; it is passed over.
    monitor.observe(stored([({"x": 1.0}, 2.0), ({"x": "?"}, "n/a")]), None)

    assert monitor.status()["watching"] == ["errors:adwin:sentinel"]
    assert monitor.status()["records"] == 2


def test_a_detector_river_refuses_stops_alone_and_the_others_go_on() -> None:
    # The spec checks names and ranges, not how parameters relate: river refuses this pair.
    detectors: list[dict[str, Any]] = [
        {
            "kind": "kswin",
            "on": "features",
            "features": ["salary"],
            "params": {"window_size": 10, "stat_size": 30},
        },
        {"kind": "adwin", "on": "errors"},
    ]
    monitor = StreamMonitor(spec(detectors=detectors))
    records = stored(examples("agrawal", 10_000, seed=7, changes=[Change(5000)]))

    (alarm,) = alarms_of(monitor, records)

    assert (alarm.detection.series, alarm.detection.alarm.record_id) == ("sentinel", "r05055")


# What an alarm says


def test_the_event_carries_detector_features_statistic_window_and_severity() -> None:
    records = stored(examples("agrawal", 10_000, seed=7, changes=[Change(5000)]))
    (alarm,) = alarms_of(StreamMonitor(spec()), records)
    cause = ingested()

    event = drift_event(cause, "s", alarm, champion=None, report_uri="driftloop://artifacts/x")

    assert isinstance(event, DriftDetected)
    assert (event.source, event.detector, event.features) == (DriftSource.ERRORS, "adwin", ())
    assert round(event.statistic, 3) == 0.456
    assert event.threshold == 0.002
    assert event.window_start == records[4989].event_time
    assert event.window_end == records[5055].event_time
    assert (event.records_seen, event.severity, event.causation_id) == (
        5056,
        Severity.HIGH,
        cause.event_id,
    )
    assert evidence(alarm, {})["errors_of"] == "sentinel"
    assert drift_alert(event).kind == "drift"


def test_an_alarm_on_a_feature_names_it() -> None:
    watch = Watch("adwin", {}, source=DriftSource.FEATURES, series="salary")
    detection = None
    for i, value in enumerate([0.0, 1.0] * 200 + [5.0, 6.0] * 200):
        detection = detection or watch.update(value, Mark(str(i), T0))
    assert detection is not None
    cause = ingested()

    event = drift_event(cause, "s", Alarm(detection, 416), champion="m-2", report_uri=None)

    assert (event.source, event.features, event.model_id) == ("features", ("salary",), "m-2")
    assert evidence(Alarm(detection, 416), {})["feature"] == "salary"


def test_evidence_of_a_change_between_two_constant_runs_is_valid_json() -> None:
    watch = Watch("adwin", {}, source=DriftSource.ERRORS, series="m")
    detection = None
    for i, value in enumerate([0.0] * 500 + [1.0] * 100):
        detection = detection or watch.update(value, Mark(str(i), T0))
    assert detection is not None and detection.shift.effect == float("inf")

    found = evidence(Alarm(detection, 600), {})

    assert found["effect_size"] is None
    assert json.loads(json.dumps(found, allow_nan=False)) == found
    assert Alarm(detection, 600).severity == Severity.HIGH
