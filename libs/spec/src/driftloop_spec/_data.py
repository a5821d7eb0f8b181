"""Which records an experiment learns from: the training window and the holdout."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Literal, Self

from pydantic import Field, field_validator, model_validator

from ._base import SpecModel, problem
from ._durations import Duration

FeatureType = Literal["float", "int", "bool", "category"]
NUMERIC_TYPES: frozenset[FeatureType] = frozenset({"float", "int", "bool"})


class Window(SpecModel):
    """The training window: the newest ``last_labelled`` records, or a span of time.

    Time is either ``last`` (a duration back from the experiment's start) or
    ``since`` with an optional ``until``. Times without a zone are read as UTC.
    """

    last_labelled: int | None = Field(default=None, ge=1)
    last: Duration | None = None
    since: datetime | None = None
    until: datetime | None = None

    @field_validator("since", "until", mode="before")
    @classmethod
    def _as_utc(cls, value: object) -> object:
        # YAML and TOML both read a bare 2024-05-01 as a date, not a datetime.
        if isinstance(value, date) and not isinstance(value, datetime):
            value = datetime(value.year, value.month, value.day)
        if isinstance(value, datetime) and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value

    @model_validator(mode="after")
    def _one_kind(self) -> Self:
        given = [
            kind
            for kind, value in (
                ("last_labelled", self.last_labelled),
                ("last", self.last),
                ("since", self.since or self.until),
            )
            if value is not None
        ]
        if len(given) != 1:
            raise ValueError(
                "give exactly one of last_labelled (records), last (a duration), "
                f"or since/until (times); got {', '.join(given) or 'none'}"
            )
        if self.until is not None and self.since is None:
            raise problem(("since",), "required when until is given")
        if self.since and self.until and self.since >= self.until:
            raise problem(("until",), "must be later than since")
        return self

    @property
    def kind(self) -> Literal["records", "duration", "range"]:
        if self.last_labelled is not None:
            return "records"
        return "duration" if self.last is not None else "range"


class Holdout(SpecModel):
    """The newest labelled records kept out of training to judge candidates on.

    Either a ``fraction`` of the window or a ``count`` of records (a bare number in
    the file means a fraction when below 1, a count otherwise). ``reuse_budget``
    caps how many experiments may judge on one holdout: each look leaks a little.
    """

    fraction: float | None = Field(default=None, gt=0, lt=1)
    count: int | None = Field(default=None, ge=1)
    reuse_budget: int = Field(default=10, ge=1)

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: object) -> object:
        if isinstance(data, bool):
            return data  # let field validation say it is not a mapping
        if isinstance(data, int):
            return {"count": data}
        if isinstance(data, float):
            return {"fraction": data}
        if isinstance(data, dict) and "fraction" not in data and "count" not in data:
            return {**data, "fraction": 0.2}
        return data

    @model_validator(mode="after")
    def _one_size(self) -> Self:
        if self.fraction is not None and self.count is not None:
            raise ValueError("give fraction or count, not both")
        return self


DEFAULT_WINDOW = Window(last_labelled=10_000)
