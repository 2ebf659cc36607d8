"""The API application: `create_app(settings)`; the lifespan loads backends (and the engine) once."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute

from synthscope import __version__
from synthscope.asgi_headers import SecurityHeadersMiddleware
from synthscope.asgi_logging import RequestLogMiddleware
from synthscope.auth.ratelimit import RateLimiter
from synthscope.backends import Backends, build
from synthscope.billing import Billing
from synthscope.config import Settings, get_settings
from synthscope.errors import BundleError
from synthscope_api import problems
from synthscope_api.routers import analyze, auth, billing, health, reports, uploads, web
from synthscope_api.state import ApiState

log = logging.getLogger("synthscope.api")

EXPOSED_HEADERS = ["ETag", "Location", "Retry-After", "X-Request-Id"]
ALLOWED_HEADERS = [
    "Authorization",
    "Content-Type",
    "Idempotency-Key",
    "If-None-Match",
    "x-goog-content-length-range",
    "x-goog-if-generation-match",
]


def _operation_id(route: APIRoute) -> str:
    return route.name  # stable, hand-picked names: the generated web client keeps its method names


def load_engine(settings: Settings) -> Any:
    """Load the model bundle once (slow: torch import, hash checks, warm-up)."""
    from synthscope.analysis import SharedEngine
    from synthscope.engine import Engine

    try:
        engine = Engine.load(settings, settings.bundle_path)
    except BundleError as exc:
        log.critical(
            "cannot load the model bundle: %s. Ship shared/synthscope/models/default or point "
            "SYNTHSCOPE_BUNDLE_PATH at a bundle directory (make train writes data/bundle).",
            exc.detail,
        )
        raise
    log.info("model bundle loaded", extra={"bundle": engine.bundle.name, "bundle_sha256": engine.bundle.sha256})
    return SharedEngine(engine)


def build_state(settings: Settings, backends: Backends, engine: Any) -> ApiState:
    """What every request reads: settings, backends, the engine (when /analyze runs here), limiters, billing."""
    store = backends.limits_storage
    return ApiState(
        settings=settings,
        backends=backends,
        token_limiter=RateLimiter(settings.anon_token_rate, storage=store, namespace="token"),
        engine=engine if settings.api_sync_analyze else None,
        key_limiter=RateLimiter(settings.api_key_rate, "requests for this API key", storage=store, namespace="key"),
        key_ip_limiter=RateLimiter(
            settings.api_key_ip_rate, "API-key requests from this address", storage=store, namespace="key-ip"
        ),
        billing=Billing(settings, backends.accounts),  # its Stripe client is built on first billing call
    )


def _lifespan(
    settings: Settings,
    worker_app: FastAPI | None,
    attach_worker: Callable[[FastAPI, Settings, Backends, Any], None] | None,
) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        backends = build(settings, deliver_tasks=True)  # the API delivers queued tasks where no service does
        engine = load_engine(settings) if (settings.api_sync_analyze or worker_app is not None) else None
        app.state.api = build_state(settings, backends, engine)
        if worker_app is not None and attach_worker is not None:
            attach_worker(worker_app, settings, backends, engine)
        backends.start()  # what the backend runs beside the API (local: the queue's delivery thread)
        # Everything loaded so far (torch, the bundle) lives as long as the process: keep it out of the cyclic
        # GC's full collections, which otherwise walk it all and stall requests for tens of milliseconds.
        gc.collect()
        gc.freeze()
        log.info("api ready", extra={"backend": backends.kind, "worker_url": settings.worker_url})
        try:
            yield
        finally:
            backends.close()

    return lifespan


def create_app(
    settings: Settings | None = None,
    *,
    worker_app: FastAPI | None = None,
    attach_worker: Callable[[FastAPI, Settings, Backends, Any], None] | None = None,
) -> FastAPI:
    """The API. With `worker_app` (local all-in-one mode) the worker is mounted at /_worker and shares the
    backends and the loaded engine; `attach_worker` hands them to it, since mounted apps get no lifespan."""
    settings = settings or get_settings()

    lifespan = _lifespan(settings, worker_app, attach_worker)
    app = FastAPI(
        title="Synthscope API",
        version=__version__,
        summary="Tell AI-generated audio from human audio: signed uploads, queued reports, tier-redacted results.",
        lifespan=lifespan,
        generate_unique_id_function=_operation_id,
    )
    problems.install(app)
    for r in (auth.router, uploads.router, reports.router, analyze.router, billing.router, health.router):
        app.include_router(r)
    app.include_router(web.router)  # GET / (the web app) and /assets/*, outside the OpenAPI schema
    app.include_router(uploads.local_router)  # 404 unless the backend receives uploads itself (local mode)
    if worker_app is not None:
        app.mount("/_worker", worker_app)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.cors_origins,
        allow_methods=["GET", "POST", "PUT", "OPTIONS"],
        allow_headers=ALLOWED_HEADERS,
        expose_headers=EXPOSED_HEADERS,
        max_age=600,
    )
    app.add_middleware(SecurityHeadersMiddleware, hsts=settings.backend == "gcp")
    app.add_middleware(RequestLogMiddleware, service="api", quiet_paths=frozenset({"/healthz"}))

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                summary=app.summary,
                routes=app.routes,
            )
            app.openapi_schema = problems.add_problem_schema(schema)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app
