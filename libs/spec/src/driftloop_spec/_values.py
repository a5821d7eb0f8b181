"""Whether a value fits its feature's type or its stream's task, and why not. Pure.

Ingestion dead-letters a record that breaks its stream's schema and serving refuses a
request that would; both read these rules, so a producer hears the same reason, in the same
words, from either. The bounds are what the store and the models hold: a 64-bit int and a
finite double.

>>> feature_fault("int", "41")
('wrong_type', "expected int, got string '41'")
>>> feature_fault("float", float("-inf"))
('not_finite', 'must be a finite number, got -Infinity')
>>> label_fault(0.5, "classification")
('invalid_label', 'a class must be an int, string or bool, got float 0.5')
>>> feature_fault("category", 7) is None
True
"""

from __future__ import annotations

from math import isfinite
from typing import Literal, get_args

from ._data import FeatureType
from ._metrics import Task

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
FLOAT_MAX = 1.7976931348623157e308
NUL_REASON = "contains a NUL character (\\u0000), which the store cannot hold"

ValueFault = Literal["not_finite", "wrong_type", "invalid_label", "unstorable"]
"""What is wrong with a value; ingestion's rejection kinds carry the same names."""

_TYPES: tuple[FeatureType, ...] = get_args(FeatureType)


def feature_fault(expected: str, value: object) -> tuple[ValueFault, str] | None:
    """What is wrong with a feature's ``value`` for the ``expected`` type, and why; None if
    nothing. A name missing from (or unknown to) the schema is the caller's to judge."""
    if type(value) is float and not isfinite(value):
        return "not_finite", f"must be a finite number, got {_literal(value)}"
    if not _fits(expected, value):
        return "wrong_type", _expected(expected, value)
    if type(value) is str and "\x00" in value:
        return "unstorable", NUL_REASON
    return None


def label_fault(label: object, task: Task | None) -> tuple[ValueFault, str] | None:
    """What is wrong with ``label`` for a stream of ``task``, and why; None if nothing.

    A missing label (``None``) is no fault here: a record may come without one, and feedback,
    which must carry one, says so itself.
    """
    if label is None:
        return None
    if type(label) is float and not isfinite(label):
        return "not_finite", f"must be a finite number, got {_literal(label)}"
    if task == "classification" and type(label) is float:
        return "invalid_label", f"a class must be an int, string or bool, got {_show(label)}"
    if task == "regression" and type(label) not in (int, float):
        return "invalid_label", f"must be a number for regression, got {_show(label)}"
    if type(label) is str and "\x00" in label:
        return "unstorable", NUL_REASON
    return None


def _fits(expected: str, value: object) -> bool:
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
    return f"expected {wanted}, got {_show(value)}"


def _show(value: object) -> str:
    names = {float: "float", int: "int", str: "string", bool: "bool"}
    text = repr(value)
    text = text if len(text) <= 40 else text[:37] + "..."
    # `.get`: a caller may pass any object, and naming its type beats a KeyError.
    return "null" if value is None else f"{names.get(type(value), type(value).__name__)} {text}"


def _literal(value: float) -> str:
    # As the producer wrote it: JSON's extensions spell these NaN and Infinity.
    return "NaN" if value != value else ("Infinity" if value > 0 else "-Infinity")
