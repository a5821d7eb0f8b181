"""Each message's verdict, fast: a record that plainly fits is accepted without a model.

``validate`` builds the contract's pydantic model and then explains any fault. Most
records have none, and building models was most of ingestion's CPU time. Here a message
is first parsed by the parser pydantic itself uses (jiter, ``pydantic_core.from_json``)
and checked field by field against schemas compiled once per read; its features and
label come out as the JSON text the store takes. Whatever this fast path is not sure of,
a fault or a valid form it leaves alone (an event time given as a number), goes to
``validate``: both accept the same records and keep the same values, which a test checks
on many generated messages.

>>> schema = StreamSchema("orders", {"amount": "float", "country": "category"}, "fraud")
>>> schemas = Schemas({"orders": schema})
>>> raw = (b'{"stream": "orders", "record_id": "o-1", "event_time": "2026-11-23T12:00:00Z",'
...        b' "features": {"amount": 12.5, "country": "PT"}, "label": true}')
>>> accepted = judge(raw, schemas, max_bytes=65536)
>>> accepted.features, accepted.label
('{"amount":12.5,"country":"PT"}', 'true')
>>> judge(raw.replace(b"12.5", b"NaN"), schemas, max_bytes=65536).kind
<Kind.NOT_FINITE: 'not_finite'>
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from math import isfinite
from typing import Any, NamedTuple

from pydantic import AwareDatetime, TypeAdapter
from pydantic_core import SchemaValidator, ValidationError, from_json, to_json

from driftloop_contracts import Record
from driftloop_spec import FLOAT_MAX, INT64_MAX, INT64_MIN, Task

from .validation import Rejection, StreamSchema, validate

# The contract's own rules for its envelope, as the fast path applies them.
_STREAM_NAME = re.compile(r"[a-z][a-z0-9_]{0,62}")
_RECORD_ID_MAX = 128
_EVENT_TIME = SchemaValidator(TypeAdapter(AwareDatetime).core_schema).validate_python

_FLOAT, _INT, _CATEGORY, _BOOL = range(4)
_CODES = {"float": _FLOAT, "int": _INT, "category": _CATEGORY, "bool": _BOOL}


class Accepted(NamedTuple):
    """A valid record as the store takes it: features and label as JSON text (a named
    tuple, as ``Row``: one is built per record)."""

    stream: str
    record_id: str
    event_time: datetime
    features: str
    label: str | None

    @classmethod
    def of(cls, record: Record) -> Accepted:
        label = None if record.label is None else to_json(record.label).decode()
        return cls(
            record.stream,
            record.record_id,
            record.event_time,
            to_json(record.features).decode(),
            label,
        )


@dataclass(frozen=True, slots=True)
class _Compiled:
    features: dict[str, int]
    task: Task | None


class Schemas:
    """The registered schemas, and those the fast path can check, compiled."""

    def __init__(self, schemas: Mapping[str, StreamSchema]) -> None:
        self.all = schemas
        self.compiled = {
            name: _Compiled({f: _CODES[t] for f, t in schema.features.items()}, schema.task)
            for name, schema in schemas.items()
            if _STREAM_NAME.fullmatch(name) and all(t in _CODES for t in schema.features.values())
        }

    def __contains__(self, name: object) -> bool:
        return name in self.all


def judge(raw: bytes | None, schemas: Schemas, max_bytes: int) -> Accepted | Rejection:
    """The record in ``raw`` if it fits its stream's schema, else why not."""
    if raw is not None and len(raw) <= max_bytes and (accepted := _fast(raw, schemas)):
        return accepted
    verdict = validate(raw, schemas.all, max_bytes)
    return verdict if isinstance(verdict, Rejection) else Accepted.of(verdict)


def _fast(raw: bytes, schemas: Schemas) -> Accepted | None:
    """The record if it plainly fits, else ``None`` (``validate`` then decides)."""
    try:
        data = from_json(raw)
    except ValueError:
        return None
    if type(data) is not dict:
        return None
    stream, record_id = data.get("stream"), data.get("record_id")
    features, label = data.get("features"), data.get("label")
    if type(stream) is not str or type(record_id) is not str or type(features) is not dict:
        return None
    schema = schemas.compiled.get(stream)
    if schema is None or not 0 < len(record_id) <= _RECORD_ID_MAX or "\x00" in record_id:
        return None
    if not _features_fit(features, schema.features) or not _label_fits(label, schema.task):
        return None
    event_time = data.get("event_time")
    if type(event_time) is not str:
        return None
    try:
        when = _EVENT_TIME(event_time)
    except ValidationError:
        return None
    text = None if label is None else to_json(label).decode()
    return Accepted(stream, record_id, when, to_json(features).decode(), text)


def _features_fit(features: dict[str, Any], codes: dict[str, int]) -> bool:
    # Every name known and as many as the schema has: none missing. `type(v) is`, as in
    # ``validate``: bool is an int subclass, and True is no number here.
    if len(features) != len(codes):
        return False
    for name, value in features.items():
        code = codes.get(name)
        kind = type(value)
        if kind is float:
            if code != _FLOAT or not isfinite(value):
                return False
        elif kind is int:
            if code == _FLOAT:
                if not -FLOAT_MAX <= value <= FLOAT_MAX:
                    return False
            elif code not in (_INT, _CATEGORY) or not INT64_MIN <= value <= INT64_MAX:
                return False
        elif kind is str:
            if code != _CATEGORY or "\x00" in value:
                return False
        elif kind is not bool or code != _BOOL:
            return False
    return True


def _label_fits(label: Any, task: Task | None) -> bool:
    kind = type(label)
    if label is None or kind is int:
        return True
    if kind is float:
        return task != "classification" and isfinite(label)
    if kind is bool:
        return task != "regression"
    return kind is str and task != "regression" and "\x00" not in label
