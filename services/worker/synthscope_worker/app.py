"""The worker application: one endpoint the queue calls, the engine loaded once at startup.

Status codes are the queue contract: 2xx = done with this delivery (completed,
failed for good, or a duplicate); 503 = another attempt holds the report, try
later; 500 = transient failure, retry with backoff.
"""

from __future__ import annotations

import argparse
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, FastAPI, Header, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from synthscope import __version__, logs
from synthscope.analysis import SharedEngine
from synthscope.asgi_headers import SecurityHeadersMiddleware
from synthscope.asgi_logging import RequestLogMiddleware
from synthscope.auth.keys import matches_any
from synthscope.backends import Backends, build
from synthscope.config import Settings, get_settings
from synthscope.errors import PROBLEM_BASE, SynthscopeError, Unauthorized
from synthscope.pipeline import Pipeline, Transient

log = logging.getLogger("synthscope.worker")
PROBLEM_JSON = "application/problem+json"


@dataclass
class WorkerState:
    settings: Settings
    backends: Backends
    engine: SharedEngine
    pipeline: Pipeline


def make_state(settings: Settings, backends: Backends, engine: SharedEngine) -> WorkerState:
    return WorkerState(settings, backends, engine, Pipeline(settings, engine, backends.blobs, backends.reports))


def attach(app: FastAPI, settings: Settings, backends: Backends, engine: Any) -> None:
    """Give a mounted worker app (all-in-one mode) the API's backends and engine."""
    app.state.worker = make_state(settings, backends, engine)


class ProcessRequest(BaseModel):
    task_id: str = Field(min_length=1, max_length=64)


class ProcessResponse(BaseModel):
    task_id: str
    outcome: Literal["completed", "failed", "duplicate", "missing"]
    detail: str = ""


def _state(request: Request) -> WorkerState:
    return request.app.state.worker  # type: ignore[no-any-return]


State = Annotated[WorkerState, Depends(_state)]


async def verify_caller(state: State, authorization: Annotated[str | None, Header()] = None) -> None:
    """Local mode: the queue's shared secret as a bearer. GCP: Cloud Tasks' OIDC token (401 bad, 403 wrong caller)."""
    if state.settings.backend != "local":
        verifier = state.backends.worker_auth
        if verifier is None:
            raise Unauthorized("no OIDC verifier configured (set SYNTHSCOPE_INVOKER_EMAIL)")
        await run_in_threadpool(verifier.verify, authorization)  # fetches Google's certificates
        return
    scheme, _, secret = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not matches_any(secret, [state.settings.worker_bearer]):
        raise Unauthorized("the worker only accepts deliveries from the task queue")


Caller = Annotated[None, Depends(verify_caller)]
router = APIRouter()


def _problem(status: int, slug: str, title: str, detail: str, retry_after: int | None = None) -> JSONResponse:
    headers = {"Retry-After": str(retry_after)} if retry_after else None
    body = {"type": PROBLEM_BASE + slug, "title": title, "status": status, "detail": detail}
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


@router.post("/process-report", response_model=ProcessResponse, name="processReport")
async def process_report(
    body: ProcessRequest,
    state: State,
    _: Caller,
    retry_count: Annotated[int, Header(alias="X-CloudTasks-TaskRetryCount", ge=0)] = 0,
) -> ProcessResponse | JSONResponse:
    final = retry_count + 1 >= state.settings.queue_max_attempts
    try:
        outcome = await run_in_threadpool(state.pipeline.process, body.task_id, final_attempt=final)
    except Transient as exc:
        return _problem(500, "transient", "Transient failure", f"will be retried: {exc}")
    if outcome.retry:
        return _problem(503, "busy", "Another attempt holds this report", "retry later", retry_after=5)
    return ProcessResponse(task_id=body.task_id, outcome=outcome.kind, detail=outcome.detail)  # type: ignore[arg-type]


@router.get("/healthz", name="workerHealthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", name="workerReadyz", response_model=None)
async def readyz(state: State) -> dict[str, str] | JSONResponse:
    try:
        state.backends.reports.ping()
        state.backends.blobs.ping()
    except Exception as exc:
        return _problem(503, "not-ready", "Not ready", str(exc))
    return {"status": "ready", "bundle": state.engine.engine.bundle.name}


def create_app(settings: Settings | None = None, *, embedded: bool = False) -> FastAPI:
    """`embedded`: mounted inside the API process, which supplies the state (see `attach`)."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        from synthscope.engine import Engine

        backends = build(settings)
        engine = SharedEngine(Engine.load(settings, settings.bundle_path))
        app.state.worker = make_state(settings, backends, engine)
        gc.collect()
        gc.freeze()  # the loaded model lives as long as the process: keep it out of full GC passes
        log.info(
            "worker ready",
            extra={"bundle": engine.engine.bundle.name, "worker_id": app.state.worker.pipeline.worker_id},
        )
        try:
            yield
        finally:
            backends.close()

    app = FastAPI(
        title="Synthscope worker",
        version=__version__,
        lifespan=None if embedded else lifespan,
        openapi_url=None if embedded else "/openapi.json",
        docs_url=None,
        redoc_url=None,
    )

    @app.exception_handler(SynthscopeError)
    async def _err(request: Request, exc: SynthscopeError) -> JSONResponse:
        return _problem(exc.status, exc.slug, exc.title, exc.detail)

    app.include_router(router)
    if not embedded:
        app.add_middleware(SecurityHeadersMiddleware, hsts=settings.backend == "gcp")
        app.add_middleware(RequestLogMiddleware, service="worker", quiet_paths=frozenset({"/healthz"}))
    return app


def main(argv: list[str] | None = None) -> None:
    """Run the worker alone (the queue runs in the API process): `synthscope-worker --port 8081`."""
    import uvicorn

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8081)
    args = p.parse_args(argv)
    settings = get_settings()
    logs.configure(settings.log_level, settings.gcp_project)
    uvicorn.run(
        create_app(settings),
        host=args.host,
        port=args.port,
        log_config=None,
        access_log=False,
        # asyncio's loop, not uvloop: under saturation uvloop starved some connections for seconds
        # (p99 1.3 s vs 42 ms for the same app here; docs/decisions/0002-services.md).
        loop="asyncio",
        http="httptools",
        timeout_graceful_shutdown=30,
        server_header=False,  # no server/version banner
    )


if __name__ == "__main__":
    main()
