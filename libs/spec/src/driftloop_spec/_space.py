"""Search dimensions for one hyperparameter, in the short forms people write in YAML:

n_estimators: {int: [10, 300]}
learning_rate: {float: [0.001, 0.3], log: true}
criterion: {choice: [gini, entropy]}
max_iter: 500                      # a fixed value
class_weight: {fixed: {0: 1, 1: 3}}  # a fixed mapping must be wrapped
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from pydantic import BeforeValidator, JsonValue, PlainSerializer, model_serializer

from ._base import SpecModel

_KINDS = ("int", "float", "choice", "fixed")


class IntRange(SpecModel):
    low: int
    high: int
    log: bool = False

    @model_serializer
    def _as_written(self) -> dict[str, Any]:
        return {"int": [self.low, self.high], "log": self.log}


class FloatRange(SpecModel):
    low: float
    high: float
    log: bool = False

    @model_serializer
    def _as_written(self) -> dict[str, Any]:
        return {"float": [self.low, self.high], "log": self.log}


class Choice(SpecModel):
    options: tuple[JsonValue, ...]

    @model_serializer
    def _as_written(self) -> dict[str, Any]:
        return {"choice": list(self.options)}


class Fixed(SpecModel):
    value: JsonValue

    @model_serializer
    def _as_written(self) -> Any:
        return {"fixed": self.value} if isinstance(self.value, dict) else self.value


def parse_dimension(raw: object) -> IntRange | FloatRange | Choice | Fixed:
    """Read one dimension; ValueError says what is wrong in the file's own terms."""
    if isinstance(raw, IntRange | FloatRange | Choice | Fixed):
        return raw
    if not isinstance(raw, dict):
        return Fixed(value=raw)
    kinds = [key for key in _KINDS if key in raw]
    if len(kinds) != 1:
        raise ValueError(
            "a dimension is {int: [low, high]}, {float: [low, high]}, {choice: [...]}, "
            "a fixed value, or {fixed: ...} for a fixed mapping"
        )
    kind = kinds[0]
    allowed = {kind, "log"} if kind in ("int", "float") else {kind}
    if unknown := sorted(set(raw) - allowed, key=str):
        raise ValueError(f"unknown key {unknown[0]!r} in a {kind} dimension")
    if kind == "fixed":
        return Fixed(value=raw["fixed"])
    if kind == "choice":
        return _choice(raw["choice"])
    return _range(kind, raw[kind], raw.get("log", False))


def _choice(options: object) -> Choice:
    if not isinstance(options, list | tuple) or not options:
        raise ValueError("choice needs a non-empty list of options")
    # json.dumps tells 1 from true, which == does not.
    seen: set[str] = set()
    for option in options:
        key = json.dumps(option, sort_keys=True, default=str)
        if key in seen:
            raise ValueError(f"choice lists {option!r} twice")
        seen.add(key)
    return Choice(options=tuple(options))


def _range(kind: str, bounds: object, log: object) -> IntRange | FloatRange:
    if not isinstance(bounds, list | tuple) or len(bounds) != 2:
        raise ValueError(f"{kind} needs [low, high]")
    low, high = bounds
    number = int if kind == "int" else int | float
    if any(isinstance(b, bool) or not isinstance(b, number) for b in (low, high)):
        raise ValueError(f"{kind} bounds must be {kind}s, got [{low!r}, {high!r}]")
    if not isinstance(log, bool):
        raise ValueError(f"log must be true or false, got {log!r}")
    if low >= high:
        raise ValueError(f"low must be below high, got [{low!r}, {high!r}]")
    if log and low <= 0:
        raise ValueError(f"a log scale needs low > 0, got {low!r}")
    if kind == "int":
        return IntRange(low=low, high=high, log=log)
    return FloatRange(low=low, high=high, log=log)


def _as_written(dimension: IntRange | FloatRange | Choice | Fixed) -> Any:
    # Chosen here by type: a union of models with custom serialisers picks the first.
    return dimension.model_dump()


Dimension = Annotated[
    IntRange | FloatRange | Choice | Fixed,
    BeforeValidator(parse_dimension),
    PlainSerializer(_as_written),
]
