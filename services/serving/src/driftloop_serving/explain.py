"""Turn pydantic-core's refusal of a request into one problem: the field and the reason.

Problems inside ``features`` and ``label`` are explained by the stream's rules (``rules``),
in the words ingestion uses; the rest of the request's shape by pydantic's error type.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic_core import ErrorDetails

from driftloop_spec import NUL_REASON

from .rules import Problem, check_features, check_label

if TYPE_CHECKING:
    from .validation import StreamSchema

_REASONS = {
    "missing": "required",
    "extra_forbidden": "unknown field",
    "dict_type": "must be a JSON object",
    "list_type": "must be a list",
    "string_type": "must be a string",
    "string_too_short": "must not be empty",
    "string_too_long": "must be at most 128 characters",
    "string_pattern_mismatch": NUL_REASON,
}
_TAGS = frozenset({"bool", "int", "float", "str"})
# Where a record (or label) sits in each request shape.
_ITEM_LISTS = ("records", "labels")


def explain(errors: list[ErrorDetails], data: dict[str, Any], schema: StreamSchema) -> Problem:
    # Pydantic lists errors in field order; the first is the one a caller fixes first.
    error = errors[0]
    loc = error["loc"]
    prefix, item = _item(loc, data)
    rest = loc[len(prefix) :]
    if rest and rest[0] == "features" and len(rest) > 1 and isinstance(item, dict):
        features = item.get("features")
        if isinstance(features, dict):
            where = _dotted((*prefix, "features"))
            found = check_features(features, schema.features, schema.name, where)
            if found is not None:
                return found
    if rest == ("label",) or (rest[:1] == ("label",) and isinstance(item, dict)):
        found = check_label(item.get("label") if isinstance(item, dict) else None, schema.task)
        if found is not None:
            return Problem(_dotted((*prefix, "label")), found.reason)
    return _generic(error)


def _item(loc: tuple[int | str, ...], data: dict[str, Any]) -> tuple[tuple[int | str, ...], Any]:
    """The path of the record the error is in, and that record."""
    if len(loc) >= 2 and loc[0] in _ITEM_LISTS and isinstance(loc[1], int):
        items = data.get(str(loc[0]))
        if isinstance(items, list) and loc[1] < len(items):
            return (loc[0], loc[1]), items[loc[1]]
    return (), data


def _generic(error: ErrorDetails) -> Problem:
    loc = error["loc"]
    kind = error["type"]
    # Union members name themselves in the location ("constrained-int"): not a field.
    field = _dotted(tuple(part for part in loc if not _union_tag(part)))
    return Problem(field or "body", _REASONS.get(kind, error["msg"]))


def _union_tag(part: int | str) -> bool:
    return isinstance(part, str) and (part in _TAGS or part.startswith("constrained-"))


def _dotted(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc)
