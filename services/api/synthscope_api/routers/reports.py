"""POST /report (queue an analysis of an uploaded object) and GET /report-status/{task_id} (poll it)."""

from __future__ import annotations

import hashlib
import json
import logging
import re
import secrets
import time
from typing import Annotated, Any

from fastapi import APIRouter, Header, Request, Response

from synthscope import callbacks
from synthscope.audio.validate import SNIFF_BYTES, check_extension, sniff_bytes
from synthscope.auth import quota
from synthscope.errors import (
    Conflict,
    Forbidden,
    Gone,
    IdempotencyKeyReused,
    NotFound,
    RateLimited,
    SynthscopeError,
    Unavailable,
    UploadTooLarge,
)
from synthscope.logs import span_var, trace_var
from synthscope.pipeline import fail_if_abandoned, may_be_abandoned
from synthscope.reports.redact import redact_report
from synthscope.reports.schema import Report, Stage, Status
from synthscope.reports.status import is_terminal
from synthscope.uploads import owns
from synthscope_api.deps import AppState, CurrentUser, User, backend_call, caller_ip
from synthscope_api.models import BatchAccepted, BatchItem, BatchRequest, ReportAccepted, ReportRequest
from synthscope_api.problems import problem_responses

router = APIRouter(tags=["reports"])
log = logging.getLogger("synthscope.api")

IDEMPOTENCY_TTL_S = 24 * 3600
_KEY_RE = re.compile(r"^[\x21-\x7e]{1,255}$")  # visible ASCII, as the draft's examples use
_REPORT_KEYS = tuple(Report.model_fields)
POLL_AFTER_S = 1


def new_task_id() -> str:
    return "rep_" + secrets.token_urlsafe(18)


def _accepted(task_id: str, status: str) -> tuple[ReportAccepted, dict[str, str]]:
    url = f"/report-status/{task_id}"
    return ReportAccepted(task_id=task_id, status=status, status_url=url), {  # type: ignore[arg-type]
        "Location": url,
        "Retry-After": str(POLL_AFTER_S),
    }


def _task_headers() -> dict[str, str]:
    """Carry the request's trace to the worker, so its log lines join the same trace."""
    trace, span = trace_var.get(), span_var.get()
    return {"traceparent": f"00-{trace}-{span or '0' * 15 + '1'}-01"} if trace else {}


def _admit_object(state: AppState, user: User, object_name: str) -> dict[str, Any]:
    """The object exists, is the caller's, is fresh, fits the tier and its first bytes are audio."""
    if not owns(user.sub, object_name):
        raise NotFound("no such upload (object names come from POST /generate-upload-url)")
    blobs = state.backends.blobs
    info = blobs.stat(object_name)
    if info is None:
        raise NotFound("no such upload: PUT the file to its upload_url first")
    if time.time() - info.created_at.timestamp() > state.settings.upload_fresh_s:
        raise Gone("the upload is too old to submit; upload the file again")
    if info.size > user.limits.max_file_bytes:
        raise UploadTooLarge(f"{info.size} bytes is over the {user.tier.value} tier's limit")
    sniffed = sniff_bytes(blobs.read_head(object_name, SNIFF_BYTES))
    check_extension(object_name, sniffed.format)
    return {"size_bytes": info.size, "format": sniffed.format}


def _queue_new(
    state: AppState,
    user: User,
    task_id: str,
    object_name: str,
    checked: dict[str, Any],
    key: str,
    callback_url: str | None,
    profile: str = "default",
) -> quota.QuotaGrant | None:
    """Count the report against the tier (429 when over), store it queued and enqueue it; the quota is given back
    when it could not be stored or queued."""
    reports, queue = state.backends.reports, state.backends.queue
    accounts = state.backends.accounts
    if state.settings.quotas_enforced:
        running = reports.count_active(key, user.limits.max_concurrent_reports)
        counted = quota.admit(accounts, key, user.tier, running=running)
    else:
        counted = None
    limits = user.limits
    doc = {
        "task_id": task_id,
        "owner": user.sub,
        "object_name": object_name,
        "status": Status.queued.value,
        "stage": Stage.queued.value,
        "progress": {"windows_done": 0, "windows_total": None, "percent": 0.0},
        "eta_seconds": None,
        "error": None,
        "result": None,
        "max_file_bytes": limits.max_file_bytes,
        "max_duration_s": limits.max_duration_s,
        "submitted_tier": user.tier.value,
        "quota_key": key,
        "callback_url": callback_url,
        "profile": profile,
        "size_bytes": checked["size_bytes"],
    }
    if not reports.create(doc):
        quota.give_back(accounts, counted)
        raise Conflict("task id collision; retry")
    try:
        queue.enqueue(task_id, {"task_id": task_id}, headers=_task_headers())
    except Exception as exc:
        log.exception("enqueue failed", extra={"task_id": task_id})
        quota.give_back(accounts, counted)
        reports.finish(
            task_id,
            {
                "status": Status.failed.value,
                "stage": Stage.done.value,
                "error": {
                    "type": "https://synthscope.dev/problems/unavailable",
                    "title": "Service unavailable",
                    "status": 503,
                    "detail": "the task could not be queued; submit again",
                },
            },
            lease_token=None,
        )
        raise Unavailable("the task queue is unavailable; submit again shortly") from exc
    log.info("report queued", extra={"task_id": task_id, "object_name": object_name, "tier": user.tier.value})
    return counted


@router.post(
    "/report",
    name="createReport",
    status_code=202,
    response_model=ReportAccepted,
    responses=problem_responses(400, 401, 403, 404, 409, 410, 413, 415, 422, 429, 503),
    summary="Queue the analysis of an uploaded file",
)
def create_report(
    body: ReportRequest,
    user: CurrentUser,
    state: AppState,
    request: Request,
    response: Response,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            description="Optional; a retry with the same key and body returns the same task (kept 24 h)",
            pattern=_KEY_RE.pattern,
        ),
    ] = None,
) -> ReportAccepted:
    """202 with the task and its status URL (`Location`). Same Idempotency-Key and body: the same task; same key
    with another body: 422; same key while the first request is still being handled: 409. Over the tier's quota or
    concurrency: 429 with `Retry-After`; `RateLimit-Limit/Remaining/Reset` give the quota left."""
    reports, queue = state.backends.reports, state.backends.queue
    checked = _admit_object(state, user, body.object_name)
    if body.callback_url is not None:
        if not user.limits.batch_and_webhooks:
            raise Forbidden(f"callbacks are not part of the {user.tier.value} tier")
        callbacks.check_url(body.callback_url, local=state.settings.environment == "local")
    key = quota.quota_key(user.user_id, caller_ip(request), org=user.org)
    task_id = new_task_id()
    if idempotency_key is not None:
        canonical = json.dumps(body.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        fingerprint = hashlib.sha256(f"POST /report\n{canonical}".encode()).hexdigest()
        rec = reports.remember_idempotency(user.sub, idempotency_key, fingerprint, task_id, ttl_s=IDEMPOTENCY_TTL_S)
        if not rec.created:  # a replay is not a new report: no quota counted
            if rec.fingerprint != fingerprint:
                raise IdempotencyKeyReused("this Idempotency-Key was used with a different request body")
            existing = reports.get(rec.task_id)
            if existing is None:
                raise Conflict("a request with this Idempotency-Key is still being processed; retry shortly")
            if not is_terminal(existing["status"]):
                queue.enqueue(rec.task_id, {"task_id": rec.task_id})  # no-op unless a crash lost the first enqueue
            accepted, headers = _accepted(rec.task_id, existing["status"])
            response.headers.update(headers)
            return accepted
    try:
        counted = _queue_new(
            state, user, task_id, body.object_name, checked, key, body.callback_url, body.profile.value
        )
    except RateLimited:
        if idempotency_key is not None:  # refused: the key must not point at a report that will never exist
            reports.forget_idempotency(user.sub, idempotency_key, task_id)
        raise
    if counted is not None:
        response.headers.update(counted.headers())
    accepted, headers = _accepted(task_id, Status.queued.value)
    response.headers.update(headers)
    return accepted


@router.post(
    "/reports:batch",
    name="createReportsBatch",
    status_code=202,
    response_model=BatchAccepted,
    responses=problem_responses(400, 401, 403, 422),
    summary="Queue up to 100 uploaded files at once (enterprise)",
)
def create_reports_batch(
    body: BatchRequest, user: CurrentUser, state: AppState, request: Request, response: Response
) -> BatchAccepted:
    """Each object is admitted and queued on its own, in order: an item that fails (not found, too large, over the
    concurrency limit, ...) carries its problem and the others are queued. 202 even when some items failed."""
    if not user.limits.batch_and_webhooks:
        raise Forbidden(f"batch submission is not part of the {user.tier.value} tier")
    if body.callback_url is not None:
        callbacks.check_url(body.callback_url, local=state.settings.environment == "local")
    key = quota.quota_key(user.user_id, caller_ip(request), org=user.org)
    items: list[BatchItem] = []
    for name in body.object_names:
        try:
            checked = _admit_object(state, user, name)
            task_id = new_task_id()
            counted = _queue_new(state, user, task_id, name, checked, key, body.callback_url, body.profile.value)
        except SynthscopeError as exc:
            items.append(BatchItem(object_name=name, error={**exc.problem(), "instance": "/reports:batch"}))
            continue
        if counted is not None:
            response.headers.update(counted.headers())
        url = f"/report-status/{task_id}"
        items.append(BatchItem(object_name=name, task_id=task_id, status="queued", status_url=url))
    response.headers["Retry-After"] = str(POLL_AFTER_S)
    return BatchAccepted(
        items=items, queued=sum(1 for i in items if i.task_id), failed=sum(1 for i in items if i.error)
    )


def _etag(body: bytes) -> str:
    return 'W/"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"'


def _etag_matches(if_none_match: str | None, etag: str) -> bool:
    if not if_none_match:
        return False
    if if_none_match.strip() == "*":
        return True
    tags = [t.strip() for t in if_none_match.split(",")]
    bare = etag.removeprefix("W/")
    return any(t.removeprefix("W/") == bare for t in tags)


@router.get(
    "/report-status/{task_id}",
    name="getReportStatus",
    response_model=Report,
    responses={
        304: {"description": "Not modified since the ETag in If-None-Match"},
        **problem_responses(401, 404),
    },
    summary="Poll a report (redacted by the caller's tier)",
)
async def report_status(
    task_id: str,
    user: CurrentUser,
    state: AppState,
    request: Request,
) -> Response:
    """The report as the caller's tier may see it. `ETag` / `If-None-Match` give a 304 when nothing changed;
    `Retry-After` says when to poll again while it runs. Someone else's report is a 404, like a missing one."""
    if len(task_id) > 64:
        raise NotFound("no such report")
    doc = await backend_call(state, state.backends.reports.get, task_id)  # inline for SQLite (primary-key read)
    if doc is None or doc.get("owner") != user.sub:
        raise NotFound("no such report")
    max_attempts = state.settings.queue_max_attempts
    if may_be_abandoned(doc, max_attempts):  # every attempt claimed it: fail it now if the last one died
        doc = await backend_call(state, fail_if_abandoned, state.backends.reports, doc, max_attempts) or doc
    view = redact_report(doc, user.tier)
    body = json.dumps({k: view.get(k) for k in _REPORT_KEYS}, separators=(",", ":")).encode()
    etag = _etag(body)
    headers = {"ETag": etag, "Cache-Control": "private, no-cache"}
    if not is_terminal(doc["status"]):
        headers["Retry-After"] = str(POLL_AFTER_S)
    if _etag_matches(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers=headers)
    return Response(content=body, media_type="application/json", headers=headers)
