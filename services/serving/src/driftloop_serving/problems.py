"""Every refusal answers the same JSON: the field at fault and the reason, never a 5xx.

``{"detail": "features.age: expected int, got string '41'", "field": "features.age",
"reason": "expected int, got string '41'"}``; ``detail`` alone reads well in any client.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from .rules import Problem
from .validation import Invalid


class ProblemOut(BaseModel):
    """What a refused request is told."""

    detail: str
    field: str | None = None
    reason: str | None = None


def problem_response(
    problem: Problem, status: int, headers: dict[str, str] | None = None
) -> JSONResponse:
    body = {"detail": str(problem), "field": problem.field, "reason": problem.reason}
    return JSONResponse(body, status_code=status, headers=headers)


def install(app: FastAPI) -> None:
    """Answer FastAPI's own refusals (admin bodies, query parameters) in the same shape."""

    @app.exception_handler(Invalid)
    async def invalid(request: Request, exc: Invalid) -> JSONResponse:
        return problem_response(exc.problem, exc.status)

    @app.exception_handler(RequestValidationError)
    async def unprocessable(request: Request, exc: RequestValidationError) -> JSONResponse:
        return problem_response(_first(exc.errors()), 422)


def _first(errors: Any) -> Problem:
    error = errors[0] if errors else {"loc": (), "msg": "invalid request"}
    loc = [str(part) for part in error.get("loc", ())]
    # FastAPI prefixes where the value came from: body, query, path, header.
    if loc and loc[0] in ("body", "query", "path", "header"):
        loc = loc[1:] or [loc[0]]
    kind = str(error.get("type", ""))
    reason = {"missing": "required", "json_invalid": "not JSON"}.get(kind, str(error.get("msg")))
    return Problem(".".join(loc) or "body", reason)
