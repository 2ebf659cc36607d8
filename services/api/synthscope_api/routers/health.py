"""GET /healthz (the process is up) and GET /readyz (bundle loaded, backends reachable)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from synthscope.errors import PROBLEM_BASE
from synthscope_api.deps import AppState
from synthscope_api.models import Health
from synthscope_api.problems import operation, problem

router = APIRouter(tags=["health"])


@router.get("/healthz", name="healthz", response_model=Health, summary="Liveness")
async def healthz() -> Health:
    return Health(status="ok")


@router.get("/readyz", **operation("readyz", "Readiness", Health, 503))
async def readyz(state: AppState) -> Health | JSONResponse:
    checks: dict[str, str] = {}
    b = state.backends
    stores = (
        ("blobs", b.blobs.ping),
        ("reports", b.reports.ping),
        ("accounts", b.accounts.ping),
        ("queue", b.queue.ping),
    )
    for name, ping in stores:
        try:
            ping()
            checks[name] = "ok"
        except Exception as exc:
            checks[name] = f"error: {exc}"
    if state.settings.api_sync_analyze:
        checks["model"] = f"ok: {state.engine.engine.bundle.name}" if state.engine else "not loaded"
    for task in b.background:
        checks[task.name] = "ok"
    bad = {k: v for k, v in checks.items() if not v.startswith("ok")}
    if bad:
        return problem(
            503,
            type_=PROBLEM_BASE + "not-ready",
            title="Not ready",
            detail="; ".join(f"{k}: {v}" for k, v in bad.items()),
            instance="/readyz",
        )
    return Health(status="ready", checks=checks)
