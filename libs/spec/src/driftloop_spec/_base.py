"""The base every spec section shares, and the way a check reports problems on sub-fields."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict
from pydantic_core import PydanticCustomError

# A location below the field or model that raised, e.g. ("detectors", 1, "features").
SubPath = tuple[str | int, ...]

PROBLEMS = "spec_problems"


class SpecModel(BaseModel):
    """Frozen, and strict about keys: in a file a person writes, an unknown key is a typo."""

    model_config = ConfigDict(frozen=True, extra="forbid")


def problems(found: list[tuple[SubPath, str]]) -> PydanticCustomError:
    """One pydantic error that carries several problems, each on its own sub-path.

    A validator can only raise at its own location; the sub-paths let a cross-field
    check blame the exact entry (``budget.parallel``, not ``budget``). The summary
    keeps the message readable for callers that use pydantic directly.
    """
    summary = "; ".join(f"{'.'.join(map(str, path)) or '(here)'}: {why}" for path, why in found)
    return PydanticCustomError(PROBLEMS, "{summary}", {"summary": summary, "problems": found})


def problem(path: SubPath, reason: str) -> PydanticCustomError:
    return problems([(path, reason)])
