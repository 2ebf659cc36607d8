"""RFC 9457 problem+json for every error, and the OpenAPI declaration of it.

FastAPI has no built-in problem details: these handlers turn the core's typed
errors, validation errors and unknown routes into `application/problem+json`
with stable `type` URIs, and `problem_responses()` declares them per route.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from synthscope.errors import PROBLEM_BASE, RateLimited, SynthscopeError, Unavailable

PROBLEM_JSON = "application/problem+json"
log = logging.getLogger("synthscope.api")


class ProblemDetails(BaseModel):
    """An RFC 9457 problem object."""

    type: str = Field(examples=[PROBLEM_BASE + "unauthorized"])
    title: str
    status: int
    detail: str
    instance: str | None = None
    errors: list[dict[str, Any]] | None = Field(default=None, description="Field errors (422 validation only)")


_DESCRIPTIONS = {
    400: "Bad request",
    401: "Missing, invalid or expired credentials",
    403: "Forbidden",
    404: "Not found (or owned by someone else)",
    409: "Conflict: the same Idempotency-Key is still being processed",
    410: "The upload is too old to submit",
    411: "Content-Length required",
    413: "Too large for the caller's tier",
    415: "Not a supported audio format",
    422: "Validation failed, or an Idempotency-Key reused with a different body",
    429: "Rate limited; see Retry-After",
    500: "Internal error",
    503: "Temporarily unavailable; see Retry-After",
}


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` entries for these statuses, all application/problem+json."""
    ref = {"$ref": "#/components/schemas/ProblemDetails"}
    return {s: {"description": _DESCRIPTIONS[s], "content": {PROBLEM_JSON: {"schema": ref}}} for s in statuses}


def operation(
    name: str, summary: str, model: Any, *statuses: int, other: dict[int | str, Any] | None = None, **kw: Any
) -> dict[str, Any]:
    """What every route declares, in one call: its stable operationId (the generated clients' method name), its
    summary, its response model and the problems it can answer (plus `other` non-problem responses)."""
    responses = {**(other or {}), **problem_responses(*statuses)}
    return {"name": name, "summary": summary, "response_model": model, "responses": responses, **kw}


def problem(
    status: int,
    *,
    type_: str,
    title: str,
    detail: str,
    instance: str | None = None,
    headers: dict[str, str] | None = None,
    errors: list[dict[str, Any]] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {"type": type_, "title": title, "status": status, "detail": detail}
    if instance:
        body["instance"] = instance
    if errors is not None:
        body["errors"] = errors
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def install(app: FastAPI) -> None:
    @app.exception_handler(SynthscopeError)
    async def _synthscope(request: Request, exc: SynthscopeError) -> JSONResponse:
        headers = {}
        if isinstance(exc, RateLimited | Unavailable):
            headers["Retry-After"] = str(exc.retry_after_s)
        if isinstance(exc, RateLimited):
            headers.update(exc.headers)
        if exc.status == 401:
            headers["WWW-Authenticate"] = "Bearer"
        if exc.status >= 500:
            log.error("request failed: %s", exc.detail, extra={"problem_type": exc.type})
        return problem(
            exc.status,
            type_=exc.type,
            title=exc.title,
            detail=exc.detail,
            instance=request.url.path,
            headers=headers or None,
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")} for e in exc.errors()
        ]
        first = errors[0] if errors else {"loc": [], "msg": "invalid request"}
        where = ".".join(str(p) for p in first["loc"])
        return problem(
            422,
            type_=PROBLEM_BASE + "validation-failed",
            title="Validation failed",
            detail=f"{where}: {first['msg']}" if where else str(first["msg"]),
            instance=request.url.path,
            errors=jsonable_encoder(errors),
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        slug = {404: "not-found", 405: "method-not-allowed"}.get(exc.status_code, "http-error")
        title = {404: "Not found", 405: "Method not allowed"}.get(exc.status_code, "HTTP error")
        return problem(
            exc.status_code,
            type_=PROBLEM_BASE + slug,
            title=title,
            detail=str(exc.detail),
            instance=request.url.path,
            headers=dict(exc.headers) if exc.headers else None,
        )

    @app.exception_handler(Exception)
    async def _unhandled(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error")
        return problem(
            500,
            type_=PROBLEM_BASE + "internal",
            title="Internal error",
            detail="the server failed to handle the request; it was logged",
            instance=request.url.path,
        )


def add_problem_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """Put ProblemDetails into components (routes refer to it by $ref under application/problem+json), and
    replace FastAPI's default 422 (HTTPValidationError as JSON) with what the handler really sends."""
    comps = schema.setdefault("components", {}).setdefault("schemas", {})
    comps["ProblemDetails"] = ProblemDetails.model_json_schema(ref_template="#/components/schemas/{model}")
    for path in schema.get("paths", {}).values():
        for op in path.values():
            responses = op.get("responses", {})
            if "422" in responses and "application/json" in responses["422"].get("content", {}):
                responses["422"] = problem_responses(422)[422]
            if "requestBody" in op and "400" not in responses:  # a body that is not UTF-8 / not JSON at all
                responses["400"] = problem_responses(400)[400]
            if op.get("security") == [{"APIKeyHeader": []}]:
                # X-Api-Key is optional wherever it appears (auto_error=False): anonymous calls are allowed too
                op["security"] = [{}, {"APIKeyHeader": []}]
    comps.pop("HTTPValidationError", None)
    comps.pop("ValidationError", None)
    return schema
