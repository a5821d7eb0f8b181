"""Hypothesis strategies for input no service may trust: messages and bodies that are wrong
in every way a producer, a client or a corrupted disk can make them wrong.

``malformed(valid)`` starts from a valid payload and breaks one thing: a field missing or
of the wrong type, NaN or infinity, a huge string, a NUL character, deep nesting, a schema
version nobody knows. ``unreadable()`` is bytes that are no JSON object at all: not UTF-8,
not JSON, a JSON scalar or array, nesting deep enough to hurt a recursive parser. Some of
what ``malformed`` makes is still valid (an optional field dropped, a number given as a
numeric string): tests judge each message by the contract, not by how it was made.

No tests here; the bad-input test modules import these.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Mapping
from typing import Any

from hypothesis import strategies as st

HUGE = 100_000
"""Characters in a huge string: far past any sane field (and PostgreSQL's index rows), well
below Kafka's 1 MiB."""

_SPLICE = "\u2063splice\u2063"  # stands in for raw JSON text spliced in after encoding

NUL = "\x00"

huge_text: st.SearchStrategy[str] = st.builds(
    lambda n, seed: random.Random(seed).randbytes(n // 2).hex(),
    st.integers(10_000, HUGE),
    st.integers(0, 2**32),
)
"""A huge string that does not compress: PostgreSQL cannot squeeze it into an index row."""

finite_or_not = st.sampled_from([math.nan, math.inf, -math.inf])

nasty_text: st.SearchStrategy[str] = st.one_of(
    st.text(max_size=30),
    st.text(max_size=10).map(lambda s: f"{s}{NUL}{s}"),
    st.integers(10_000, HUGE).map(lambda n: "é" * n),
    huge_text,
    st.sampled_from(["", " ", "\ud800", "\U0010ffff", "'; DROP TABLE records; --", "%s%s%s"]),
)
"""Strings a field may hold that the code behind it may not: NUL, lone surrogates, huge."""

scalars: st.SearchStrategy[Any] = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=2**63, max_value=2**80),
    st.integers(min_value=-(2**80), max_value=-(2**63) - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    nasty_text,
)

json_values: st.SearchStrategy[Any] = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
"""Any JSON value, wrong for most fields: every field gets one of these in place of its own."""

versions: st.SearchStrategy[Any] = st.one_of(
    st.integers(min_value=2, max_value=2**62),
    st.integers(max_value=0, min_value=-(2**62)),
    st.sampled_from(["2", "one", 1.5, None, [1], math.nan]),
)
"""``schema_version`` values no consumer of version 1 understands."""


def deep(depth: int) -> str:
    """JSON nested ``depth`` levels: arrays and objects, as raw text."""
    return (
        '{"a":' * (depth // 2)
        + "[" * (depth - depth // 2)
        + "]" * (depth - depth // 2)
        + ("}" * (depth // 2))
    )


def encode(payload: Any, splice: str = "") -> bytes:
    """JSON as a lenient producer writes it: NaN and Infinity spelled out, and ``splice``
    put in raw where the payload holds the splice marker."""
    text = json.dumps(payload, allow_nan=True, ensure_ascii=False)
    return text.replace(json.dumps(_SPLICE), splice).encode("utf-8", "surrogatepass")


@st.composite
def malformed(draw: st.DrawFn, valid: Mapping[str, Any]) -> bytes:
    """``valid`` with one thing broken, encoded as a producer would send it."""
    payload = dict(valid)
    name = draw(st.sampled_from(sorted(payload)))
    how = draw(
        st.sampled_from(
            ["missing", "wrong_type", "not_finite", "huge", "nul", "deep", "version", "extra"]
        )
    )
    splice = ""
    match how:
        case "missing":
            del payload[name]
        case "wrong_type":
            payload[name] = draw(json_values)
        case "not_finite":
            payload[name] = draw(finite_or_not)
        case "huge":
            payload[name] = draw(huge_text)
        case "nul":
            was = payload[name]
            payload[name] = f"{was}{NUL}" if isinstance(was, str) else NUL
            if isinstance(was, dict):  # a NUL in a key or a value of a mapping
                payload[name] = {**was, f"k{NUL}": draw(st.sampled_from([1, NUL, "a\x00b"]))}
        case "deep":
            payload[name] = _SPLICE
            splice = deep(draw(st.integers(100, 5_000)))
        case "version":
            payload["schema_version"] = draw(versions)
        case "extra":
            payload[draw(nasty_text)] = draw(json_values)
    return encode(payload, splice)


unreadable: st.SearchStrategy[bytes] = st.one_of(
    st.just(b""),
    st.binary(min_size=1, max_size=64).filter(lambda b: not _is_utf8(b)),
    st.sampled_from(
        [
            b"{not json",
            b'{"stream": "s"',
            b"null",
            b"[]",
            b'"a string"',
            b"42",
            b"NaN",
            b"\x00",
            b'{"a": 1}\x00',
            b"\xef\xbb\xbf{}",
            b'{"a": "\xff\xfe"}',
        ]
    ),
    st.integers(100, 20_000).map(lambda n: deep(n).encode()),
    json_values.filter(lambda v: not isinstance(v, dict)).map(encode),
)
"""Bytes that are no JSON object: no event and no record can be read from them."""


def bad_messages(valid: Mapping[str, Any]) -> st.SearchStrategy[bytes]:
    """Unreadable bytes, or ``valid`` with one thing broken."""
    return st.one_of(unreadable, malformed(valid))


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True
