"""What to search: model families with their spaces, the objective, and the budget."""

from __future__ import annotations

import difflib
import re
from datetime import timedelta
from typing import Self

from pydantic import Field, field_validator, model_validator

from ._base import SpecModel, SubPath, problem, problems
from ._durations import Duration
from ._metrics import METRICS, Direction, Metric, Task
from ._space import Dimension

# The families the training service ships, and the tasks each can learn.
BUILTIN_FAMILIES: dict[str, frozenset[Task]] = {
    "sklearn.logistic_regression": frozenset({"classification"}),
    "sklearn.ridge": frozenset({"regression"}),
    "sklearn.random_forest": frozenset({"classification", "regression"}),
    "sklearn.extra_trees": frozenset({"classification", "regression"}),
    "sklearn.hist_gradient_boosting": frozenset({"classification", "regression"}),
    "sklearn.knn": frozenset({"classification", "regression"}),
    "river.hoeffding_tree": frozenset({"classification", "regression"}),
    "river.adaptive_random_forest": frozenset({"classification", "regression"}),
    "river.logistic_regression": frozenset({"classification"}),
    "river.linear_regression": frozenset({"regression"}),
    "river.naive_bayes": frozenset({"classification"}),
}

_IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
_IMPORT_PATH = re.compile(rf"{_IDENT}(?:\.{_IDENT})*:{_IDENT}(?:\.{_IDENT})*")


class Family(SpecModel):
    """A model family, built in (``sklearn.random_forest``) or imported
    (``mypkg.families:MyFamily``), and the space its parameters are searched in."""

    name: str
    space: dict[str, Dimension] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _bare_name(cls, data: object) -> object:
        return {"name": data} if isinstance(data, str) else data

    @field_validator("name")
    @classmethod
    def _known(cls, name: str) -> str:
        if name in BUILTIN_FAMILIES or _IMPORT_PATH.fullmatch(name):
            return name
        close = difflib.get_close_matches(name, BUILTIN_FAMILIES, n=1)
        if close:
            raise ValueError(f"unknown family {name!r}; did you mean {close[0]!r}?")
        raise ValueError(
            f"unknown family {name!r}; use a built-in family ({', '.join(BUILTIN_FAMILIES)}) "
            "or an import path like 'mypkg.families:MyFamily'"
        )

    @field_validator("space")
    @classmethod
    def _identifiers(cls, space: dict[str, object]) -> dict[str, object]:
        for param in space:
            if not param.isidentifier():
                raise problem((param,), "a parameter name must be a Python identifier")
        return space

    @property
    def builtin(self) -> bool:
        return self.name in BUILTIN_FAMILIES


class Objective(SpecModel):
    """The metric candidates are searched and judged by; its direction follows from it."""

    metric: Metric

    @model_validator(mode="before")
    @classmethod
    def _bare_metric(cls, data: object) -> object:
        return {"metric": data} if isinstance(data, str) else data

    @property
    def direction(self) -> Direction:
        return METRICS[self.metric].direction

    def better(self, a: float, b: float) -> bool:
        """Whether score ``a`` beats score ``b`` under this objective."""
        return a > b if self.direction == "maximise" else a < b


class Budget(SpecModel):
    """How much one experiment may spend. ``parallel`` trials are asked at once;
    a trial without its own ``trial_timeout`` may run until the wall time is spent."""

    trials: int = Field(default=20, ge=1)
    wall_time: Duration = timedelta(minutes=10)
    parallel: int = Field(default=1, ge=1)
    trial_timeout: Duration | None = None

    @model_validator(mode="after")
    def _fits(self) -> Self:
        found: list[tuple[SubPath, str]] = []
        if self.parallel > self.trials:
            found.append((("parallel",), f"must be at most trials ({self.trials})"))
        if self.trial_timeout is not None and self.trial_timeout > self.wall_time:
            found.append((("trial_timeout",), "must not exceed wall_time"))
        if found:
            raise problems(found)
        return self

    @property
    def per_trial_timeout(self) -> timedelta:
        return self.trial_timeout or self.wall_time
