"""Requests to ``/predict`` and ``/feedback`` checked against their stream's schema. Pure.

Each stream's schema is compiled once into pydantic-core validators (strict types, unknown
fields refused), so a request costs one parse and one validator call; only a refused
request pays for the explanation (``rules``), which names the field and the reason.

>>> check = StreamValidator(StreamSchema("people", {"age": "int"}, "income"), max_batch=10)
>>> check.scoring({"stream": "people", "record_id": "p-1", "features": {"age": 41}}).records
[('p-1', {'age': 41})]
>>> try:
...     check.scoring({"stream": "people", "features": {"age": 41.5}})
... except Invalid as exc:
...     print(exc.problem)
features.age: expected int, got float 41.5
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any

from pydantic import AfterValidator
from pydantic_core import PydanticCustomError, SchemaValidator, ValidationError, from_json
from pydantic_core import core_schema as cs

from driftloop_learn import Features, Value
from driftloop_spec import FLOAT_MAX, INT64_MAX, INT64_MIN, Task

from .explain import explain
from .ids import new_id
from .rules import Problem


@dataclass(frozen=True, slots=True)
class StreamSchema:
    """A registered stream as serving needs it; ``online`` is the spec's progressive learning."""

    name: str
    features: Mapping[str, str]
    target: str
    task: Task | None = None
    online: bool = False


class Invalid(Exception):
    """A request the caller must fix; ``status`` is the HTTP answer."""

    def __init__(self, problem: Problem, status: int = 422) -> None:
        super().__init__(str(problem))
        self.problem = problem
        self.status = status


@dataclass(frozen=True, slots=True)
class Scoring:
    stream: str
    records: list[tuple[str, Features]]
    batch: bool

    @property
    def features(self) -> list[Features]:
        return [features for _, features in self.records]


@dataclass(frozen=True, slots=True)
class Labels:
    stream: str
    labels: list[tuple[str, Value]]


def parse_body(body: bytes) -> dict[str, Any]:
    """The JSON object in ``body``; NaN and Infinity are read so that they can be refused
    by name rather than as bad JSON."""
    try:
        data = from_json(body, allow_inf_nan=True)
    except ValueError as exc:
        raise Invalid(Problem("body", f"not JSON: {exc}"), 400) from None
    if not isinstance(data, dict):
        raise Invalid(Problem("body", "must be a JSON object"), 400)
    return data


_STREAM_NAME = re.compile(r"[a-z][a-z0-9_]{0,62}")


def stream_of(data: Mapping[str, Any]) -> str:
    stream = data.get("stream")
    if stream is None:
        raise Invalid(Problem("stream", "required"))
    if not isinstance(stream, str):
        raise Invalid(Problem("stream", "must be a string"))
    if not _STREAM_NAME.fullmatch(stream):
        # No such stream can be registered: not looked up, nor remembered as a miss.
        reason = "no stream can have this name: a-z, 0-9 and _, at most 63, a letter first"
        raise Invalid(Problem("stream", reason))
    return stream


def _storable(text: str) -> str:
    if "\x00" in text:
        raise PydanticCustomError("nul_character", "contains a NUL character (\\u0000)")
    return text


Text = Annotated[str, AfterValidator(_storable)]
"""A string the admin API takes, from a path, a query or a body: any text the store holds."""


_RECORD_ID = cs.str_schema(strict=True, min_length=1, max_length=128, pattern=r"^[^\x00]*$")
_INT = cs.int_schema(strict=True, ge=INT64_MIN, le=INT64_MAX)
_STR = cs.str_schema(strict=True, pattern=r"^[^\x00]*$")
_FEATURE: dict[str, cs.CoreSchema] = {
    "float": cs.float_schema(strict=True, allow_inf_nan=False, ge=-FLOAT_MAX, le=FLOAT_MAX),
    "int": _INT,
    "bool": cs.bool_schema(strict=True),
    "category": cs.union_schema([_INT, _STR]),
}
_LABEL: dict[Task | None, cs.CoreSchema] = {
    "classification": cs.union_schema([cs.bool_schema(strict=True), _INT, _STR]),
    "regression": cs.union_schema(
        [_INT, cs.float_schema(strict=True, allow_inf_nan=False, ge=-FLOAT_MAX, le=FLOAT_MAX)]
    ),
    None: cs.union_schema(
        [cs.bool_schema(strict=True), _INT, cs.float_schema(strict=True, allow_inf_nan=False), _STR]
    ),
}


def _refuse(value: object) -> object:
    raise ValueError("the stream's schema has an unsupported type")


def _object(fields: Mapping[str, tuple[cs.CoreSchema, bool]]) -> cs.TypedDictSchema:
    return cs.typed_dict_schema(
        {name: cs.typed_dict_field(schema, required=req) for name, (schema, req) in fields.items()},
        extra_behavior="forbid",
        strict=True,
    )


def _batch(item: cs.CoreSchema, key: str) -> cs.CoreSchema:
    # Sizes are checked before validation, on the raw list, so none is given here.
    return _object({"stream": (cs.str_schema(), True), key: (cs.list_schema(item), True)})


@dataclass
class StreamValidator:
    """The validators of one stream's requests, built once per schema."""

    schema: StreamSchema
    max_batch: int
    _validators: dict[str, SchemaValidator] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        # A schema type the spec does not know refuses every value; the explanation says why.
        never = cs.no_info_plain_validator_function(_refuse)
        features = _object(
            {name: (_FEATURE.get(kind, never), True) for name, kind in self.schema.features.items()}
        )
        record = {"record_id": (_RECORD_ID, False), "features": (features, True)}
        label = {"record_id": (_RECORD_ID, True), "label": (_LABEL[self.schema.task], True)}
        self._validators = {
            "scoring": SchemaValidator(_object({"stream": (cs.str_schema(), True), **record})),
            "records": SchemaValidator(_batch(_object(record), "records")),
            "label": SchemaValidator(_object({"stream": (cs.str_schema(), True), **label})),
            "labels": SchemaValidator(_batch(_object(label), "labels")),
        }

    def scoring(self, data: dict[str, Any]) -> Scoring:
        """One record (``features``) or a batch (``records``) to score; ids are made up where
        the caller gave none."""
        batch = "records" in data
        checked = self._check("records" if batch else "scoring", data)
        items = checked["records"] if batch else [checked]
        records = [(item.get("record_id") or new_id(), item["features"]) for item in items]
        return Scoring(self.schema.name, records, batch)

    def labels(self, data: dict[str, Any]) -> Labels:
        """One label (``record_id``, ``label``) or a batch (``labels``)."""
        batch = "labels" in data
        checked = self._check("labels" if batch else "label", data)
        items = checked["labels"] if batch else [checked]
        return Labels(self.schema.name, [(item["record_id"], item["label"]) for item in items])

    def _check(self, kind: str, data: dict[str, Any]) -> dict[str, Any]:
        if kind in ("records", "labels"):
            self._check_size(kind, data.get(kind))
        try:
            checked: dict[str, Any] = self._validators[kind].validate_python(data)
        except ValidationError as exc:
            raise Invalid(explain(exc.errors(include_url=False), data, self.schema)) from None
        return checked

    def _check_size(self, key: str, items: object) -> None:
        if not isinstance(items, list):
            return  # the validator says what it should be
        if not items:
            raise Invalid(Problem(key, "must hold at least one item"))
        if len(items) > self.max_batch:
            raise Invalid(
                Problem(key, f"at most {self.max_batch} per request, got {len(items)}"), 413
            )
