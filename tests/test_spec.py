"""The experiment spec: the example validates, and every mistake names its field."""

from __future__ import annotations

import copy
import doctest
import inspect
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pydantic
import pytest

import driftloop_spec
from driftloop_spec import (
    DETECTOR_PARAMS,
    Choice,
    ExperimentSpec,
    Fixed,
    FloatRange,
    IntRange,
    SpecError,
    SpecProblem,
    check_cron,
    format_duration,
    format_errors,
    load_spec,
    parse_duration,
    parse_spec,
    validate_spec,
)

EXAMPLES = Path(__file__).parents[1] / "examples"

MINIMAL: dict[str, Any] = {
    "stream": "agrawal",
    "task": "classification",
    "target": "class",
    "features": {"salary": "float", "age": "int", "car": "category"},
    "families": ["sklearn.random_forest"],
}


def spec_with(**changes: Any) -> dict[str, Any]:
    return {**copy.deepcopy(MINIMAL), **changes}


def problems_of(data: object) -> dict[str, str]:
    """Every problem as {path: reason}; fails the test if the spec is valid."""
    with pytest.raises(SpecError) as caught:
        validate_spec(data)
    return {p.path: p.reason for p in caught.value.problems}


# The examples


def test_example_yaml_validates() -> None:
    spec = load_spec(EXAMPLES / "agrawal.yaml")

    assert spec.stream == "agrawal"
    assert spec.target == "class"
    assert "class" not in spec.features
    assert [f.name for f in spec.families] == [
        "sklearn.random_forest",
        "sklearn.hist_gradient_boosting",
        "river.hoeffding_tree",
    ]
    assert spec.objective.direction == "maximise"
    assert spec.promotion.mode == "auto"
    assert spec.promotion_test == "mcnemar"
    assert spec.budget.wall_time <= timedelta(minutes=2)
    assert spec.triggers.drift is not None
    kinds = [(d.kind, d.on) for d in spec.triggers.drift.detectors]
    assert kinds == [("adwin", "errors"), ("page_hinkley", "features")]


def test_yaml_and_toml_examples_give_equal_specs() -> None:
    assert load_spec(EXAMPLES / "agrawal.toml") == load_spec(EXAMPLES / "agrawal.yaml")


def test_yaml_and_toml_text_give_equal_specs() -> None:
    yaml_text = """
stream: sales
task: regression
target: revenue
features: {price: float, promo: bool}
window: {since: 2024-05-01, until: 2024-06-01T12:00:00Z}
families:
  - name: sklearn.ridge
    space: {alpha: {float: [1.0e-4, 10], log: true}}
budget: {wall_time: 90}
"""
    toml_text = """
stream = "sales"
task = "regression"
target = "revenue"
features = { price = "float", promo = "bool" }
window = { since = 2024-05-01, until = 2024-06-01T12:00:00Z }
budget = { wall_time = 90 }

[[families]]
name = "sklearn.ridge"
space = { alpha = { float = [1.0e-4, 10], log = true } }
"""
    from_yaml, from_toml = parse_spec(yaml_text, "yaml"), parse_spec(toml_text, "toml")

    assert from_yaml == from_toml
    assert from_yaml.window.since == datetime(2024, 5, 1, tzinfo=UTC)
    assert from_yaml.objective.metric == "rmse"
    assert from_yaml.objective.direction == "minimise"


def test_a_dumped_spec_validates_back_to_itself() -> None:
    spec = load_spec(EXAMPLES / "agrawal.yaml")

    assert ExperimentSpec.model_validate(spec.model_dump(mode="json")) == spec
    assert ExperimentSpec.model_validate_json(spec.model_dump_json()) == spec


def test_a_minimal_spec_gets_sane_defaults() -> None:
    spec = validate_spec(MINIMAL)

    assert spec.objective.metric == "accuracy"
    assert spec.window.last_labelled == 10_000
    assert spec.holdout.fraction == 0.2
    assert spec.budget.trials == 20
    assert spec.budget.parallel == 1
    assert spec.budget.per_trial_timeout == spec.budget.wall_time == timedelta(minutes=10)
    assert spec.triggers.drift is not None
    assert [d.kind for d in spec.triggers.drift.detectors] == ["adwin"]
    assert spec.triggers.schedule is None
    assert (spec.promotion.mode, spec.promotion.alpha, spec.promotion.test) == (
        "auto",
        0.05,
        "auto",
    )
    assert (spec.seeding.k, spec.seeding.max_distance, spec.seeding.rescore_archived) == (
        3,
        0.3,
        True,
    )
    assert spec.alerts == ()
    assert spec.online is False


def test_spec_is_frozen() -> None:
    spec = validate_spec(MINIMAL)

    with pytest.raises(pydantic.ValidationError):
        spec.stream = "other"  # type: ignore[misc]


# Errors name their fields


def test_every_problem_is_reported_together() -> None:
    data = spec_with(
        budgt={"trials": 3},
        budget={"trials": 0},
        families=[
            "sklearn.random_forest",
            {"name": "sklearn.random_forest", "space": {"max_depth": {"int": [10, 2]}}},
        ],
        alerts=[{"url": "ftp://example.com/hook", "secret_env": "hunter2"}],
    )

    assert problems_of(data).keys() == {
        "budgt",
        "budget.trials",
        "families[1].space.max_depth",
        "alerts[0].url",
        "alerts[0].secret_env",
    }


def test_unknown_top_level_key_is_refused_with_a_suggestion() -> None:
    assert problems_of(spec_with(budgt={"trials": 3})) == {
        "budgt": "unknown field; did you mean 'budget'?"
    }


def test_misspelt_nested_key_is_refused_with_a_suggestion() -> None:
    data = spec_with(triggers={"drift": {"detectors": [{"kind": "adwin", "onn": "errors"}]}})

    assert problems_of(data) == {
        "triggers.drift.detectors[0].onn": "unknown field; did you mean 'on'?"
    }


def test_missing_fields_are_named() -> None:
    assert problems_of({"stream": "agrawal"}) == {
        "task": "required",
        "features": "required",
        "target": "required",
        "families": "required",
    }


def test_cross_field_problems_are_reported_together_on_their_fields() -> None:
    data = spec_with(
        features={"salary": "float", "class": "int", "car": "category"},
        objective="mae",
        budget={"trials": 2, "parallel": 4},
        triggers={
            "drift": {
                "detectors": [
                    {"kind": "adwin"},
                    {"kind": "page_hinkley", "on": "features", "features": ["salray", "car"]},
                ]
            }
        },
    )

    problems = problems_of(data)

    assert problems.keys() == {
        "target",
        "objective.metric",
        "budget.parallel",
        "triggers.drift.detectors[1].features[0]",
        "triggers.drift.detectors[1].features[1]",
    }
    assert "accuracy" in problems["objective.metric"]
    assert problems["budget.parallel"] == "must be at most trials (2)"


def test_empty_features_and_families_are_refused() -> None:
    assert problems_of(spec_with(features={}, families=[])) == {
        "features": "must not be empty",
        "families": "must not be empty",
    }


def test_families_whose_every_entry_failed_report_only_the_entries() -> None:
    data = spec_with(
        families=["sklearn.random_forrest", {"name": "river.hoeffding_tree", "spaces": {}}]
    )

    assert problems_of(data) == {
        "families[0].name": "unknown family 'sklearn.random_forrest'; "
        "did you mean 'sklearn.random_forest'?",
        "families[1].spaces": "unknown field; did you mean 'space'?",
    }


@pytest.mark.parametrize(
    ("dimension", "reason"),
    [
        ({"int": [10, 2]}, "low must be below high"),
        ({"float": [1.0, 1.0]}, "low must be below high"),
        ({"float": [0, 1], "log": True}, "a log scale needs low > 0"),
        ({"int": [1.5, 3]}, "int bounds must be ints"),
        ({"int": [1]}, "int needs [low, high]"),
        ({"choice": []}, "choice needs a non-empty list"),
        ({"choice": ["a", "a"]}, "choice lists 'a' twice"),
        ({"int": [1, 3], "step": 2}, "unknown key 'step'"),
        ({"between": [1, 3]}, "a dimension is"),
    ],
)
def test_bad_search_dimension_names_its_parameter(dimension: object, reason: str) -> None:
    data = spec_with(
        families=[
            "sklearn.random_forest",
            {"name": "sklearn.random_forest", "space": {"p": dimension}},
        ]
    )

    problems = problems_of(data)

    assert list(problems) == ["families[1].space.p"]
    assert reason in problems["families[1].space.p"]


def test_search_dimensions_read_in_every_form() -> None:
    space = {
        "n": {"int": [1, 9]},
        "lr": {"float": [0.001, 1], "log": True},
        "kind": {"choice": ["a", 1, True]},
        "iters": 100,
        "weights": {"fixed": {"a": 1}},
    }
    spec = validate_spec(spec_with(families=[{"name": "sklearn.random_forest", "space": space}]))

    assert spec.families[0].space == {
        "n": IntRange(low=1, high=9),
        "lr": FloatRange(low=0.001, high=1.0, log=True),
        "kind": Choice(options=("a", 1, True)),
        "iters": Fixed(value=100),
        "weights": Fixed(value={"a": 1}),
    }


def test_family_is_named_by_builtin_name_or_import_path() -> None:
    families = ["river.hoeffding_tree", {"name": "mypkg.families:MyFamily"}]
    spec = validate_spec(spec_with(families=families))
    assert [f.builtin for f in spec.families] == [True, False]

    problems = problems_of(spec_with(families=["sklearn.random_forrest"]))
    assert "did you mean 'sklearn.random_forest'?" in problems["families[0].name"]


def test_family_that_cannot_learn_the_task_is_refused() -> None:
    data = spec_with(task="regression", families=["sklearn.ridge", "sklearn.logistic_regression"])

    assert problems_of(data) == {"families[1].name": "cannot learn regression"}


def test_promotion_settings_are_checked() -> None:
    data = spec_with(
        task="regression",
        objective="r2",
        families=["sklearn.ridge"],
        promotion={"alpha": 1.5, "min_gain": -1, "test": "mcnemar", "first_model_threshold": 2},
    )

    assert problems_of(data).keys() == {
        "promotion.alpha",
        "promotion.min_gain",
    }
    data["promotion"] = {"test": "mcnemar", "first_model_threshold": 2}
    assert problems_of(data).keys() == {"promotion.test", "promotion.first_model_threshold"}


def test_seeding_max_distance_is_checked_and_toml_inf_means_no_limit() -> None:
    data = spec_with(seeding={"max_distance": -0.1})
    assert problems_of(data).keys() == {"seeding.max_distance"}
    data["seeding"] = {"max_distance": float("nan")}
    assert problems_of(data).keys() == {"seeding.max_distance"}

    toml_text = 'stream = "s"\ntask = "classification"\ntarget = "y"\nfamilies = ["sklearn.knn"]\n'
    toml_text += 'features = { x = "float" }\nseeding = { max_distance = inf }\n'
    yaml_text = "{stream: s, task: classification, target: y, families: [sklearn.knn],"
    yaml_text += " features: {x: float}, seeding: {max_distance: null}}"
    spec = parse_spec(toml_text, "toml")
    assert spec.seeding.max_distance is None
    assert spec == parse_spec(yaml_text, "yaml")
    assert ExperimentSpec.model_validate(spec.model_dump(mode="json")) == spec


def test_promotion_test_auto_chooses_by_task_and_metric() -> None:
    regression = spec_with(task="regression", families=["sklearn.ridge"])

    assert validate_spec(MINIMAL).promotion_test == "mcnemar"
    assert validate_spec(spec_with(objective="roc_auc")).promotion_test == "paired_bootstrap"
    assert validate_spec(regression).promotion_test == "paired_bootstrap"


@pytest.mark.parametrize(
    ("detector", "path"),
    [
        ({"kind": "adwin", "on": "errors", "features": ["salary"]}, "features"),
        ({"kind": "ddm", "on": "features"}, "on"),
        ({"kind": "adwin", "params": {"dleta": 0.1}}, "params.dleta"),
        ({"kind": "adwn"}, "kind"),
        ({"kind": "kswin", "on": "features", "features": []}, "features"),
    ],
)
def test_bad_detector_names_its_field(detector: dict[str, Any], path: str) -> None:
    data = spec_with(triggers={"drift": {"detectors": [detector]}})

    assert list(problems_of(data)) == [f"triggers.drift.detectors[0].{path}"]


def test_detector_on_all_features_watches_the_numeric_ones() -> None:
    detector = {"kind": "kswin", "on": "features", "features": "all"}
    spec = validate_spec(spec_with(triggers={"drift": {"detectors": [detector]}}))

    assert spec.triggers.drift is not None
    assert spec.watched_features(spec.triggers.drift.detectors[0]) == ("salary", "age")


def test_cooldown_is_records_or_a_duration() -> None:
    def cooldown(value: object) -> object:
        spec = validate_spec(spec_with(triggers={"drift": {"cooldown": value}}))
        assert spec.triggers.drift is not None
        return spec.triggers.drift.cooldown

    assert cooldown(500) == 500
    assert cooldown("10m") == timedelta(minutes=10)
    assert list(problems_of(spec_with(triggers={"drift": {"cooldown": "500"}}))) == [
        "triggers.drift.cooldown"
    ]


def test_window_takes_exactly_one_kind() -> None:
    assert validate_spec(spec_with(window={"last": "6h"})).window.last == timedelta(hours=6)
    assert list(problems_of(spec_with(window={"last": "6h", "last_labelled": 10}))) == ["window"]
    assert list(problems_of(spec_with(window={}))) == ["window"]
    until_first = {"since": "2024-06-01T00:00:00Z", "until": "2024-05-01T00:00:00Z"}
    assert list(problems_of(spec_with(window=until_first))) == ["window.until"]


def test_holdout_is_a_fraction_or_a_count_that_fits_the_window() -> None:
    assert validate_spec(spec_with(holdout=0.1)).holdout.fraction == 0.1
    assert validate_spec(spec_with(holdout=500)).holdout.count == 500
    assert validate_spec(spec_with(holdout={"reuse_budget": 3})).holdout.fraction == 0.2
    too_big = spec_with(window={"last_labelled": 100}, holdout={"count": 100})
    assert list(problems_of(too_big)) == ["holdout.count"]
    assert list(problems_of(spec_with(holdout={"fraction": 0.2, "count": 9}))) == ["holdout"]


def test_webhook_refuses_secrets_in_the_spec() -> None:
    hook = {"url": "https://user:pw@example.com/hook", "secret_env": "s3cr3t-value"}

    assert problems_of(spec_with(alerts=[hook])).keys() == {
        "alerts[0].url",
        "alerts[0].secret_env",
    }


def test_stream_name_must_suit_topics_and_tables() -> None:
    assert list(problems_of(spec_with(stream="Agrawal-1"))) == ["stream"]


# Durations and cron


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30s", 30),
        ("10m", 600),
        ("1h", 3600),
        ("1h30m", 5400),
        ("1.5h", 5400),
        ("2d", 172_800),
        ("500ms", 0.5),
        ("90", 90),
        (90, 90),
        (2.5, 2.5),
    ],
)
def test_durations_parse(text: object, seconds: float) -> None:
    duration = parse_duration(text)

    assert duration == timedelta(seconds=seconds)
    assert parse_duration(format_duration(duration)) == duration


@pytest.mark.parametrize("text", ["10 minutes", "-5s", "0s", 0, True, "", "m", None])
def test_bad_durations_are_refused(text: object) -> None:
    with pytest.raises(ValueError, match=r"duration|longer than zero"):
        parse_duration(text)


def test_bad_wall_time_names_its_field() -> None:
    problems = problems_of(spec_with(budget={"wall_time": "ten minutes"}))

    assert list(problems) == ["budget.wall_time"]
    assert "not a duration" in problems["budget.wall_time"]


@pytest.mark.parametrize(
    "expression",
    ["*/30 * * * *", "0 */6 * * *", "0 9-17 * * mon-fri", "15,45 0 1 jan,jul 0", "0 0 * * 7"],
)
def test_valid_cron_expressions_pass(expression: str) -> None:
    assert check_cron(expression) == expression


@pytest.mark.parametrize(
    ("expression", "reason"),
    [
        ("*/30 * * *", "5 fields"),
        ("* * * * * *", "5 fields"),
        ("60 * * * *", "minute field '60': 60 is outside 0-59"),
        ("* 24 * * *", "hour"),
        ("* * 0 * *", "day of month"),
        ("* * * 13 *", "month"),
        ("* * * * funday", "unknown value"),
        ("*/0 * * * *", "step must be at least 1"),
        ("5-1 * * * *", "runs backwards"),
        ("*/x * * * *", "cannot read"),
    ],
)
def test_invalid_cron_expressions_say_why(expression: str, reason: str) -> None:
    with pytest.raises(ValueError, match="cron") as caught:
        check_cron(expression)

    assert reason in str(caught.value)


def test_schedule_takes_every_or_a_valid_cron() -> None:
    every = validate_spec(spec_with(triggers={"schedule": {"every": "6h"}}))
    assert every.triggers.schedule is not None
    assert every.triggers.schedule.every == timedelta(hours=6)

    assert list(problems_of(spec_with(triggers={"schedule": {"cron": "* * *"}}))) == [
        "triggers.schedule.cron"
    ]
    both = {"schedule": {"every": "1h", "cron": "0 * * * *"}}
    assert list(problems_of(spec_with(triggers=both))) == ["triggers.schedule"]


# Files and syntax


def test_yaml_syntax_error_gives_its_line() -> None:
    with pytest.raises(SpecError) as caught:
        parse_spec("stream: agrawal\nfeatures: {salary: float\n", "yaml")

    [problem] = caught.value.problems
    assert problem.line == 3
    assert problem.reason.startswith("invalid YAML")


def test_toml_syntax_error_gives_its_line() -> None:
    with pytest.raises(SpecError) as caught:
        parse_spec('stream = "agrawal"\ntask = \n', "toml")

    [problem] = caught.value.problems
    assert problem.line == 2
    assert str(problem).startswith("line 2: invalid TOML")


def test_yaml_key_given_twice_is_an_error() -> None:
    with pytest.raises(SpecError) as caught:
        parse_spec("stream: a\ntask: regression\nstream: b\n", "yaml")

    assert caught.value.lines() == ["line 3: invalid YAML: duplicate key 'stream'"]


def test_yaml_reads_on_as_a_key_and_exponents_as_numbers() -> None:
    text = """
stream: agrawal
task: classification
target: class
features: {salary: float}
families: [river.hoeffding_tree]
triggers:
  drift:
    detectors: [{kind: adwin, on: errors, params: {delta: 1e-7}}]
"""
    spec = parse_spec(text, "yaml")

    assert spec.triggers.drift is not None
    assert spec.triggers.drift.detectors[0].params == {"delta": 1e-7}


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("spec.json", "{}", "unknown extension '.json'"),
        ("missing.yaml", None, "cannot read"),
        ("empty.yaml", "", "the spec is empty"),
        ("list.yaml", "- a\n- b\n", "must be a mapping"),
        ("binary.toml", b"\xff\xfe", "cannot read"),
    ],
)
def test_unusable_files_are_reported(
    tmp_path: Path, name: str, content: str | bytes | None, reason: str
) -> None:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)

    with pytest.raises(SpecError) as caught:
        load_spec(path)

    [problem] = caught.value.problems
    assert problem.path == ""
    assert reason in problem.reason


def test_errors_render_one_line_per_problem() -> None:
    problems = [
        SpecProblem("budget.trials", "must be greater than or equal to 1, got 0"),
        SpecProblem("", "invalid YAML: oops", line=4),
        SpecProblem("", "the spec is empty"),
    ]
    error = SpecError(problems)

    assert error.lines() == [
        "budget.trials: must be greater than or equal to 1, got 0",
        "line 4: invalid YAML: oops",
        "spec: the spec is empty",
    ]
    assert str(error) == format_errors(problems) == "\n".join(error.lines())


# The package


def test_public_surface_is_exactly_all() -> None:
    public = {name for name in dir(driftloop_spec) if not name.startswith("_")}

    assert public == set(driftloop_spec.__all__)


@pytest.mark.parametrize(
    "module",
    [
        "driftloop_spec",
        "driftloop_spec._durations",
        "driftloop_spec._cron",
        "driftloop_spec._values",
    ],
)
def test_docstring_examples_run(module: str) -> None:
    result = doctest.testmod(__import__(module, fromlist=["_"]))

    assert result.attempted > 0
    assert result.failed == 0


def test_detector_parameters_match_river() -> None:
    drift = pytest.importorskip("river.drift")
    classes = {
        "adwin": drift.ADWIN,
        "kswin": drift.KSWIN,
        "page_hinkley": drift.PageHinkley,
        "ddm": drift.binary.DDM,
        "eddm": drift.binary.EDDM,
        "hddm_a": drift.binary.HDDMA,
        "hddm_w": drift.binary.HDDMW,
        "fhddm": drift.binary.FHDDM,
    }
    for kind, params in DETECTOR_PARAMS.items():
        signature = inspect.signature(classes[kind])
        assert params == set(signature.parameters), kind


@pytest.mark.parametrize(
    ("params", "path", "reason"),
    [
        ({"clock": 0}, "params.clock", "must be at least 1"),
        ({"delta": 2}, "params.delta", "must be less than 1"),
        ({"delta": 0}, "params.delta", "must be greater than 0"),
        ({"grace_period": 2.5}, "params.grace_period", "must be a whole number"),
        ({"max_buckets": "many"}, "params.max_buckets", "must be a number"),
    ],
)
def test_detector_parameter_values_out_of_river_range_are_refused(
    params: dict[str, object], path: str, reason: str
) -> None:
    """River panics in Rust on some of these: they must never reach the drift service."""
    text = (
        "stream: s\ntask: classification\ntarget: y\nfeatures: {a: float}\n"
        "families: [{name: sklearn.logistic_regression}]\n"
        f"triggers: {{drift: {{detectors: [{{kind: adwin, on: errors, params: {params}}}]}}}}\n"
    )
    with pytest.raises(SpecError) as caught:
        parse_spec(text, "yaml")
    assert [f"triggers.drift.detectors[0].{path}: {reason}"] == caught.value.lines()
