"""Why a record's features or label break its stream's schema, in ingestion's words. Pure.

The rules are ingestion's (a record ingestion would dead-letter is refused here too, for
the same reason); services never import each other, so both read the value rules from
the library that owns the schema's types (``driftloop_spec.feature_fault``, ``label_fault``).
The fast path does not run these: pydantic-core validators compiled from the same rules
(``validation``) accept or refuse, and only a refusal is explained here.

>>> check_features({"age": "41"}, {"age": "int"}, "people")
Problem(field='features.age', reason="expected int, got string '41'")
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from driftloop_spec import Task, feature_fault, label_fault


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
        if fault := feature_fault(expected, value):
            return Problem(field, fault[1])
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
    if fault := label_fault(label, task):
        return Problem(field, fault[1])
    return None
