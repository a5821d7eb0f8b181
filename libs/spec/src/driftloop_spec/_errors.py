"""Problems in a spec, each named by the path of its field, and the error that carries them."""

from __future__ import annotations

import difflib
import types
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from ._base import PROBLEMS


@dataclass(frozen=True)
class SpecProblem:
    """One thing wrong: ``path`` like ``families[1].space.max_depth`` ("" for the whole
    file) and the ``reason``; ``line`` when the parser knows it."""

    path: str
    reason: str
    line: int | None = None

    def __str__(self) -> str:
        where = self.path or (f"line {self.line}" if self.line else "spec")
        if self.path and self.line:
            where = f"{self.path} (line {self.line})"
        return f"{where}: {self.reason}"


class SpecError(Exception):
    """A spec that cannot be used, with every problem found in it."""

    def __init__(self, problems: Sequence[SpecProblem]) -> None:
        self.problems = tuple(problems)
        super().__init__(format_errors(self.problems))

    def lines(self) -> list[str]:
        """One ``<path>: <reason>`` line per problem."""
        return [str(p) for p in self.problems]


def format_errors(problems: Iterable[SpecProblem]) -> str:
    return "\n".join(str(p) for p in problems)


def render_path(loc: Sequence[str | int]) -> str:
    """("families", 1, "space", "max_depth") -> "families[1].space.max_depth"."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part.isidentifier():
            out += f".{part}" if out else part
        else:
            out += f"[{part!r}]"
    return out


def problems_from(error: ValidationError, model: type[BaseModel]) -> list[SpecProblem]:
    details = error.errors()
    found = []
    for detail in details:
        loc = tuple(detail["loc"])
        # A list whose items all failed is also "too short"; the items' errors say why.
        if detail["type"] == "too_short" and any(
            len(other["loc"]) > len(loc) and other["loc"][: len(loc)] == loc for other in details
        ):
            continue
        if detail["type"] == PROBLEMS:
            found += [
                SpecProblem(render_path(loc + tuple(sub)), reason)
                for sub, reason in detail.get("ctx", {})["problems"]
            ]
        else:
            found.append(SpecProblem(render_path(loc), _reason(detail, model)))
    return found


def _reason(detail: ErrorDetails, model: type[BaseModel]) -> str:
    kind, message = detail["type"], detail["msg"]
    if kind == "extra_forbidden":
        known = _fields_at(model, detail["loc"][:-1])
        close = difflib.get_close_matches(str(detail["loc"][-1]), known, n=1)
        return "unknown field" + (f"; did you mean {close[0]!r}?" if close else "")
    if kind == "missing":
        return "required"
    if kind == "too_short" and detail.get("ctx", {}).get("min_length") == 1:
        return "must not be empty"
    if kind.startswith("url_"):
        return f"must be an http:// or https:// URL, got {detail['input']!r}"
    message = message.removeprefix("Value error, ")
    if message.startswith("Input should be"):
        message = "must be" + message.removeprefix("Input should be")
        value = detail["input"]
        if isinstance(value, str | int | float) and len(repr(value)) <= 40:
            message += f", got {value!r}"
    return message


def _fields_at(model: type[BaseModel], loc: Sequence[str | int]) -> list[str]:
    """The field names of the model found at ``loc``: what a misspelt key was meant as."""
    current: Any = model
    for part in loc:
        current = _step(current, part)
        if current is None:
            return []
    return list(current.model_fields) if _is_model(current) else []


def _step(annotation: Any, part: str | int) -> Any:
    while get_origin(annotation) is Annotated:
        annotation = get_args(annotation)[0]
    if _is_model(annotation):
        field = annotation.model_fields.get(part) if isinstance(part, str) else None
        return None if field is None else field.annotation
    if get_origin(annotation) in (Union, types.UnionType):
        options = [a for a in get_args(annotation) if a is not type(None)]
        return _step(options[0], part) if len(options) == 1 else None
    args = get_args(annotation)
    if not args:
        return None
    # tuple[X, ...] and list[X] are indexed by position, dict[K, V] by key.
    return args[0] if get_origin(annotation) in (tuple, list) else args[-1]


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)
