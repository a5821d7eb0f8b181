"""The experiment spec as a whole, and the checks that span its sections."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from ._base import SpecModel, SubPath, problem, problems
from ._data import DEFAULT_WINDOW, NUMERIC_TYPES, FeatureType, Holdout, Window
from ._metrics import DEFAULT_METRIC, METRICS, Task, metrics_for
from ._policy import Promotion, Seeding, Webhook
from ._search import BUILTIN_FAMILIES, Budget, Family, Objective
from ._triggers import DriftDetector, Triggers

_STREAM = re.compile(r"[a-z][a-z0-9_]{0,62}")
Name = Annotated[str, Field(min_length=1, max_length=128)]


class ExperimentSpec(SpecModel):
    """What to learn from a stream, how to search for it, and when to replace the champion.

    Checks that span sections run as soon as the sections they need are valid, so
    one pass reports as many problems as the file has.
    """

    stream: str
    task: Task
    # Features come before the target so that the target check leaves them valid
    # for the checks that need them (detectors).
    features: dict[Name, FeatureType] = Field(min_length=1)
    target: Name
    window: Window = DEFAULT_WINDOW
    holdout: Holdout = Holdout()
    families: tuple[Family, ...] = Field(min_length=1)
    objective: Objective
    budget: Budget = Budget()
    triggers: Triggers = Triggers()
    promotion: Promotion = Promotion()
    seeding: Seeding = Seeding()
    alerts: tuple[Webhook, ...] = ()
    online: bool = False
    seed: int = Field(default=0, ge=0)
    description: str = ""

    @field_validator("stream")
    @classmethod
    def _stream_name(cls, name: str) -> str:
        # Stream names become topic and table names, hence the narrow alphabet.
        if not _STREAM.fullmatch(name):
            raise ValueError("must be 1-63 lowercase letters, digits or _, starting with a letter")
        return name

    @model_validator(mode="before")
    @classmethod
    def _default_objective(cls, data: object) -> object:
        # The sane default depends on the task, so a field default cannot express it.
        if isinstance(data, dict) and "objective" not in data:
            metric = DEFAULT_METRIC.get(str(data.get("task")), "accuracy")
            return {**data, "objective": metric}
        return data

    @field_validator("target")
    @classmethod
    def _target_is_not_a_feature(cls, target: str, info: ValidationInfo) -> str:
        if target in info.data.get("features", {}):
            raise ValueError("is also listed in features; a model cannot be given its answer")
        return target

    @field_validator("holdout")
    @classmethod
    def _holdout_fits_window(cls, holdout: Holdout, info: ValidationInfo) -> Holdout:
        window: Window | None = info.data.get("window")
        limit = window.last_labelled if window else None
        if limit and holdout.count and holdout.count >= limit:
            raise problem(("count",), f"must be below window.last_labelled ({limit})")
        return holdout

    @field_validator("families")
    @classmethod
    def _families_fit_task(
        cls, families: tuple[Family, ...], info: ValidationInfo
    ) -> tuple[Family, ...]:
        task: Task | None = info.data.get("task")
        found: list[tuple[SubPath, str]] = [
            ((i, "name"), f"cannot learn {task}")
            for i, family in enumerate(families)
            if task and family.builtin and task not in BUILTIN_FAMILIES[family.name]
        ]
        if found:
            raise problems(found)
        return families

    @field_validator("objective")
    @classmethod
    def _objective_fits_task(cls, objective: Objective, info: ValidationInfo) -> Objective:
        task: Task | None = info.data.get("task")
        if task and METRICS[objective.metric].task != task:
            raise problem(
                ("metric",),
                f"{objective.metric} does not measure {task}; use one of "
                f"{', '.join(metrics_for(task))}",
            )
        return objective

    @field_validator("triggers")
    @classmethod
    def _detectors_watch_known_features(cls, triggers: Triggers, info: ValidationInfo) -> Triggers:
        features: dict[str, FeatureType] | None = info.data.get("features")
        if features is None or triggers.drift is None:
            return triggers
        found: list[tuple[SubPath, str]] = []
        for i, detector in enumerate(triggers.drift.detectors):
            at: SubPath = ("drift", "detectors", i, "features")
            watched = detector.watched
            if watched == "all" and not any(t in NUMERIC_TYPES for t in features.values()):
                found.append((at, "there is no numeric feature to watch"))
                continue
            for j, name in enumerate(() if watched == "all" else watched):
                if name not in features:
                    found.append(((*at, j), f"{name!r} is not among the features"))
                elif features[name] not in NUMERIC_TYPES:
                    found.append(((*at, j), f"{name!r} is a category; detectors need numbers"))
        if found:
            raise problems(found)
        return triggers

    @field_validator("promotion")
    @classmethod
    def _promotion_fits_objective(cls, promotion: Promotion, info: ValidationInfo) -> Promotion:
        task: Task | None = info.data.get("task")
        objective: Objective | None = info.data.get("objective")
        found: list[tuple[SubPath, str]] = []
        if promotion.test == "mcnemar" and task == "regression":
            found.append((("test",), "mcnemar compares right/wrong; use paired_bootstrap"))
        threshold = promotion.first_model_threshold
        if objective and threshold is not None:
            info_ = METRICS[objective.metric]
            if not info_.low <= threshold <= info_.high:
                found.append(
                    (
                        ("first_model_threshold",),
                        f"{objective.metric} lies in [{info_.low}, {info_.high}]",
                    )
                )
        if found:
            raise problems(found)
        return promotion

    @property
    def promotion_test(self) -> Literal["mcnemar", "paired_bootstrap"]:
        """The test the gate runs. ``auto`` picks McNemar where it is exact: a
        classifier judged by accuracy, i.e. by right/wrong per record. Every other
        metric is not a sum of per-record outcomes, so it is bootstrapped in pairs."""
        if self.promotion.test != "auto":
            return self.promotion.test
        if self.task == "classification" and self.objective.metric == "accuracy":
            return "mcnemar"
        return "paired_bootstrap"

    def watched_features(self, detector: DriftDetector) -> tuple[str, ...]:
        """The feature names a detector watches, with ``all`` resolved to numeric ones."""
        if detector.watched == "all":
            return tuple(n for n, t in self.features.items() if t in NUMERIC_TYPES)
        return detector.watched
