"""Every refusal answers the same JSON: the field at fault and the reason, never a 5xx.

``{"detail": "features.age: expected int, got string '41'", "field": "features.age",
"reason": "expected int, got string '41'"}``; ``detail`` alone reads well in any client.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from starlette.exceptions import HTTPException

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

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        # FastAPI's 400 for a body it could not even decode (bytes that are not UTF-8)
        # says neither where nor why; its cause does.
        if exc.status_code == 400 and exc.__cause__ is not None:
            return problem_response(Problem("body", f"not JSON: {exc.__cause__}"), 400)
        return await http_exception_handler(request, exc)


def _first(errors: Any) -> Problem:
    error: dict[str, Any] = errors[0] if errors else {"loc": (), "msg": "invalid request"}
    loc = [str(part) for part in error.get("loc", ())]
    # FastAPI prefixes where the value came from: body, query, path, header.
    if loc and loc[0] in ("body", "query", "path", "header"):
        loc = loc[1:] or [loc[0]]
    kind = str(error.get("type", ""))
    if kind == "json_invalid":  # located by its character offset, which is no field
        return Problem("body", f"not JSON: {error.get('ctx', {}).get('error', 'invalid')}")
    reason = {"missing": "required"}.get(kind, str(error.get("msg")))
    return Problem(".".join(loc) or "body", reason)
