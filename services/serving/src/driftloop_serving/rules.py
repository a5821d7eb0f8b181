"""Why a record's features or label break its stream's schema, in ingestion's words. Pure.

The rules are ingestion's (a record ingestion would dead-letter is refused here too, for
the same reason); services never import each other, so they are restated, not imported.
The fast path does not run these: pydantic-core validators compiled from the same rules
(``validation``) accept or refuse, and only a refusal is explained here.

>>> check_features({"age": "41"}, {"age": "int"}, "people")
Problem(field='features.age', reason="expected int, got string '41'")
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from math import isfinite
from typing import get_args

from driftloop_spec import FeatureType, Task

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
FLOAT_MAX = 1.7976931348623157e308
NUL = "contains a NUL character (\\u0000), which the store cannot hold"
_TYPES: tuple[FeatureType, ...] = get_args(FeatureType)


@dataclass(frozen=True, slots=True)
class Problem:
    """The dotted path of the offending field (``body`` for the request as a whole), and
    why, in words the caller can act on."""

    field: str
    reason: str

    def __str__(self) -> str:
        return f"{self.field}: {self.reason}"


def check_features(
    features: Mapping[str, object],
    schema: Mapping[str, str],
    stream: str,
    prefix: str = "features",
) -> Problem | None:
    """The first problem of ``features`` against ``schema``, or None."""
    for name, value in features.items():
        field = f"{prefix}.{name}"
        expected = schema.get(name)
        if expected is None:
            return Problem(field, f"not in the schema of stream {stream}")
        if not isinstance(value, (str, int, float, type(None))):
            return Problem(field, "must be a number, string, boolean or null")
        if type(value) is float and not isfinite(value):
            return Problem(field, f"must be a finite number, got {_literal(value)}")
        if not fits(expected, value):
            return Problem(field, _expected(expected, value))
        if type(value) is str and "\x00" in value:
            return Problem(field, NUL)
    if len(features) < len(schema):
        # Every given name is known, so fewer names than the schema means some are missing.
        missing = next(name for name in schema if name not in features)
        return Problem(f"{prefix}.{missing}", f"required by stream {stream}")
    return None


def check_label(label: object, task: Task | None, field: str = "label") -> Problem | None:
    """The problem of a feedback label for a stream of ``task``, or None."""
    if label is None:
        return Problem(field, "required: the true label of the record")
    if not isinstance(label, (str, int, float)):
        return Problem(field, "must be a number, string or boolean")
    if type(label) is float and not isfinite(label):
        return Problem(field, f"must be a finite number, got {_literal(label)}")
    if task == "classification" and type(label) is float:
        return Problem(field, f"a class must be an int, string or bool, got {show(label)}")
    if task == "regression" and type(label) not in (int, float):
        return Problem(field, f"must be a number for regression, got {show(label)}")
    if type(label) is str and "\x00" in label:
        return Problem(field, NUL)
    return None


def fits(expected: str, value: object) -> bool:
    # `type(v) is` rather than isinstance: bool is an int subclass, and True is no number here.
    if type(value) is int:
        if expected == "float":
            return -FLOAT_MAX <= value <= FLOAT_MAX
        return expected in ("int", "category") and INT64_MIN <= value <= INT64_MAX
    if type(value) is float:
        return expected == "float"
    if type(value) is bool:
        return expected == "bool"
    return type(value) is str and expected == "category"


def _expected(expected: str, value: object) -> str:
    if expected not in _TYPES:
        return f"the stream's schema has the unsupported type {expected!r}"
    if type(value) is int and expected != "bool":
        return f"expected {expected}, got an int out of its range"
    wanted = "string or int" if expected == "category" else expected
    return f"expected {wanted}, got {show(value)}"


def show(value: object) -> str:
    names = {float: "float", int: "int", str: "string", bool: "bool"}
    text = repr(value)
    text = text if len(text) <= 40 else text[:37] + "..."
    return "null" if value is None else f"{names.get(type(value), type(value).__name__)} {text}"


def _literal(value: float) -> str:
    # As JSON's extensions spell them, which is how the caller wrote them.
    return "NaN" if value != value else ("Infinity" if value > 0 else "-Infinity")
