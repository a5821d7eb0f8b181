"""Is this message a record of a registered stream? Pure: bytes and schemas in, a verdict out.

The envelope is checked by the contract itself (``Record``), so producers and ingestion
read one definition; the stream's schema then checks the features and the label, by the
value rules serving applies too (``driftloop_spec.feature_fault`` and ``label_fault``). Every
rejection names the offending field (``None`` when the whole message is at fault) and
says why in words a producer can act on.

>>> schema = StreamSchema("orders", {"amount": "float", "country": "category"}, "fraud")
>>> raw = (b'{"stream": "orders", "record_id": "o-1", "event_time": "2026-11-23T12:00:00Z",'
...        b' "features": {"amount": NaN, "country": "PT"}}')
>>> rejection = validate(raw, {"orders": schema}, max_bytes=65536)
>>> rejection.kind, rejection.field, rejection.reason
(<Kind.NOT_FINITE: 'not_finite'>, 'features.amount', 'must be a finite number, got NaN')
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from enum import StrEnum

from pydantic import ValidationError
from pydantic_core import ErrorDetails, from_json

from driftloop_contracts import Record, Value
from driftloop_spec import NUL_REASON, Task, feature_fault, label_fault


class Kind(StrEnum):
    """Why a message was rejected, as a stable name for tests and counters."""

    TOO_LARGE = "too_large"
    NOT_JSON = "not_json"
    NOT_AN_OBJECT = "not_an_object"
    MISSING_FIELD = "missing_field"
    INVALID_FIELD = "invalid_field"
    UNKNOWN_STREAM = "unknown_stream"
    MISSING_FEATURE = "missing_feature"
    UNKNOWN_FEATURE = "unknown_feature"
    WRONG_TYPE = "wrong_type"
    NOT_FINITE = "not_finite"
    INVALID_LABEL = "invalid_label"
    UNSTORABLE = "unstorable"
    UNCHECKABLE = "uncheckable"


@dataclass(frozen=True, slots=True)
class StreamSchema:
    """What a stream's records must hold: feature name -> type, and what the label predicts."""

    name: str
    features: Mapping[str, str]
    target: str
    task: Task | None = None


@dataclass(frozen=True, slots=True)
class Rejection:
    kind: Kind
    field: str | None
    reason: str
    stream: str | None = None
    record_id: str | None = None


def validate(
    raw: bytes | None, schemas: Mapping[str, StreamSchema], max_bytes: int
) -> Record | Rejection:
    """The record in ``raw`` if it fits its stream's schema, else why not."""
    raw = raw or b""
    if len(raw) > max_bytes:
        return Rejection(
            Kind.TOO_LARGE, None, f"message is {len(raw)} bytes; the limit is {max_bytes}"
        )
    try:
        record = Record.model_validate_json(raw)
    except ValidationError as exc:
        rejection = _envelope_rejection(exc.errors(include_url=False))
        return _identified(rejection, raw)
    schema = schemas.get(record.stream)
    if schema is None:
        return _reject(
            record, Kind.UNKNOWN_STREAM, "stream", "no stream of this name is registered"
        )
    if "\x00" in record.record_id:
        return _reject(record, Kind.UNSTORABLE, "record_id", NUL_REASON)
    if problem := _check_features(record.features, schema):
        return _reject(record, *problem)
    if problem := _check_label(record.label, schema.task):
        return _reject(record, *problem)
    return record


def _reject(record: Record, kind: Kind, field: str, reason: str) -> Rejection:
    return Rejection(kind, field, reason, record.stream, record.record_id)


def _identified(rejection: Rejection, raw: bytes) -> Rejection:
    """The rejection with the stream and record id the message gives, where they are strings.

    Only rejected messages pay for this second parse; it lets the store count rejects per
    stream even when the envelope itself is at fault.
    """
    if rejection.kind in (Kind.NOT_JSON, Kind.NOT_AN_OBJECT):
        return rejection
    data = from_json(raw)
    stream, record_id = data.get("stream"), data.get("record_id")
    return replace(
        rejection,
        stream=stream if isinstance(stream, str) else None,
        record_id=record_id if isinstance(record_id, str) else None,
    )


def _envelope_rejection(errors: list[ErrorDetails]) -> Rejection:
    # Pydantic lists errors in field order; the first is the one a producer fixes first.
    error = errors[0]
    kind, loc = error["type"], error["loc"]
    if kind == "json_invalid":
        detail = error["msg"].removeprefix("Invalid JSON: ")
        return Rejection(Kind.NOT_JSON, None, f"not JSON: {detail}")
    if not loc:
        return Rejection(Kind.NOT_AN_OBJECT, None, "not a JSON object")
    field = ".".join(str(part) for part in loc)
    if kind == "missing":
        return Rejection(Kind.MISSING_FIELD, field, "required")
    if loc[0] in ("features", "label") and len(loc) > 1:
        # A value that is neither scalar nor null fails every member of the union: one
        # message for the field, not one per member.
        scalar = loc[:-1] if loc[-1] in ("float", "int", "str", "bool") else loc
        field = ".".join(str(part) for part in scalar)
        return Rejection(Kind.INVALID_FIELD, field, "must be a number, string, boolean or null")
    if kind == "timezone_aware":
        return Rejection(Kind.INVALID_FIELD, field, "needs a time zone, e.g. 2026-11-23T12:00:00Z")
    return Rejection(Kind.INVALID_FIELD, field, error["msg"])


Problem = tuple[Kind, str, str]


def _check_features(features: Mapping[str, Value], schema: StreamSchema) -> Problem | None:
    expected_types = schema.features
    for name, value in features.items():
        field = f"features.{name}"
        expected = expected_types.get(name)
        if expected is None:
            return Kind.UNKNOWN_FEATURE, field, f"not in the schema of stream {schema.name}"
        if fault := feature_fault(expected, value):
            # The shared rules name each fault as Kind does.
            return Kind(fault[0]), field, fault[1]
    if len(features) < len(expected_types):
        # Every given name is known, so fewer names than the schema means some are missing.
        missing = next(name for name in expected_types if name not in features)
        return Kind.MISSING_FEATURE, f"features.{missing}", f"required by stream {schema.name}"
    return None


def _check_label(label: Value, task: Task | None) -> Problem | None:
    if fault := label_fault(label, task):
        return Kind(fault[0]), "label", fault[1]
    return None
