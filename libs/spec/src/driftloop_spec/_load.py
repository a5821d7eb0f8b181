"""Reading a spec from a YAML or TOML file or text, with every problem reported at once."""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Hashable
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import ValidationError

from ._errors import SpecError, SpecProblem, problems_from
from ._spec import ExperimentSpec

SpecFormat = Literal["yaml", "toml"]
_FORMATS: dict[str, SpecFormat] = {".yaml": "yaml", ".yml": "yaml", ".toml": "toml"}


def load_spec(path: str | os.PathLike[str]) -> ExperimentSpec:
    """Read and validate the spec at ``path``; its extension says YAML or TOML."""
    file = Path(path)
    spec_format = _FORMATS.get(file.suffix.lower())
    if spec_format is None:
        raise SpecError(
            [SpecProblem("", f"unknown extension {file.suffix!r}; use .yaml, .yml or .toml")]
        )
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise SpecError([SpecProblem("", f"cannot read {file}: {reason}")]) from None
    return parse_spec(text, spec_format)


def parse_spec(text: str, format: SpecFormat) -> ExperimentSpec:
    """Validate spec ``text`` written in ``format`` ("yaml" or "toml")."""
    data = _parse_toml(text) if format == "toml" else _parse_yaml(text)
    return validate_spec(data)


def validate_spec(data: object) -> ExperimentSpec:
    """Validate already-parsed data (a mapping of sections), raising SpecError."""
    if data is None:
        raise SpecError([SpecProblem("", "the spec is empty")])
    if not isinstance(data, dict):
        raise SpecError([SpecProblem("", "the spec must be a mapping of sections")])
    try:
        return ExperimentSpec.model_validate(data)
    except ValidationError as exc:
        raise SpecError(problems_from(exc, ExperimentSpec)) from None


def _parse_toml(text: str) -> Any:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        # Python 3.11 puts the position only in the message: "... (at line 3, column 7)".
        message = str(exc)
        found = re.search(r"\(at line (\d+), column \d+\)$", message)
        line = int(found[1]) if found else None
        reason = message[: found.start()].strip() if found else message
        raise SpecError([SpecProblem("", f"invalid TOML: {reason}", line)]) from None


def _parse_yaml(text: str) -> Any:
    try:
        return yaml.load(text, Loader=_SpecLoader)  # noqa: S506  # a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        reason = getattr(exc, "problem", None) or str(exc)
        raise SpecError([SpecProblem("", f"invalid YAML: {reason}", line)]) from None


class _SpecLoader(yaml.SafeLoader):
    """Safe YAML with YAML 1.1 traps closed, as YAML 1.2 does.

    ``on``/``off``/``yes``/``no`` stay strings (a detector's ``on: errors`` key would
    otherwise become the boolean True), ``1e-7`` is a number, and a key given twice
    is an error instead of silently keeping the last value.
    """

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if not isinstance(key, Hashable):
                continue  # the base class reports unhashable keys
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


_SpecLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_SpecLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool",
    re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
    list("tTfF"),
)
# YAML 1.1 reads 1e-7 (no dot) as a string; a detector's delta is often written so.
_SpecLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?[0-9][0-9_]*[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)
