"""POST /report (queue an analysis of an uploaded object) and GET /report-status/{task_id} (poll it)."""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Annotated

from fastapi import APIRouter, Header, Request, Response

from synthscope.auth import quota
from synthscope.errors import NotFound
from synthscope.logs import span_var, trace_var
from synthscope.reports.lifecycle import fail_if_abandoned, may_be_abandoned
from synthscope.reports.redact import redact_report
from synthscope.reports.schema import Report
from synthscope.reports.status import is_terminal, status_url
from synthscope.reports.submission import Accepted, Submission
from synthscope_api.deps import AppState, CurrentUser, backend_call, caller_ip
from synthscope_api.models import BatchAccepted, BatchItem, BatchRequest, ReportAccepted, ReportRequest
from synthscope_api.problems import operation

router = APIRouter(tags=["reports"])
log = logging.getLogger("synthscope.api")

_REPORT_KEYS = tuple(Report.model_fields)
POLL_AFTER_S = 1


def _accepted(accepted: Accepted, response: Response) -> ReportAccepted:
    url = status_url(accepted.task_id)
    response.headers.update({"Location": url, "Retry-After": str(POLL_AFTER_S)})
    if accepted.quota is not None:
        response.headers.update(accepted.quota.headers())
    return ReportAccepted(task_id=accepted.task_id, status=accepted.status, status_url=url)  # type: ignore[arg-type]


def _task_headers() -> dict[str, str]:
    """Carry the request's trace to the worker, so its log lines join the same trace."""
    trace, span = trace_var.get(), span_var.get()
    return {"traceparent": f"00-{trace}-{span or '0' * 15 + '1'}-01"} if trace else {}


@router.post(
    "/report",
    **operation(
        "createReport",
        "Queue the analysis of an uploaded file",
        ReportAccepted,
        400,
        401,
        403,
        404,
        409,
        410,
        413,
        415,
        422,
        429,
        503,
        status_code=202,
    ),
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
            pattern=r"^[\x21-\x7e]{1,255}$",  # visible ASCII, as the draft's examples use
        ),
    ] = None,
) -> ReportAccepted:
    """202 with the task and its status URL (`Location`). Same Idempotency-Key and body: the same task; same key
    with another body: 422; same key while the first request is still being handled: 409. Over the tier's quota or
    concurrency: 429 with `Retry-After`; `RateLimit-Limit/Remaining/Reset` give the quota left."""
    accepted = state.intake.submit(
        user,
        Submission(body.object_name, body.profile.value, body.callback_url),
        quota.quota_key(user.user_id, caller_ip(request), org=user.org),
        idempotency_key=idempotency_key,
        trace_headers=_task_headers(),
    )
    return _accepted(accepted, response)


@router.post(
    "/reports:batch",
    **operation(
        "createReportsBatch",
        "Queue up to 100 uploaded files at once (enterprise)",
        BatchAccepted,
        400,
        401,
        403,
        422,
        status_code=202,
    ),
)
def create_reports_batch(
    body: BatchRequest, user: CurrentUser, state: AppState, request: Request, response: Response
) -> BatchAccepted:
    """Each object is admitted and queued on its own, in order: an item that fails (not found, too large, over the
    concurrency limit, ...) carries its problem and the others are queued. 202 even when some items failed."""
    outcomes = state.intake.submit_batch(
        user,
        body.object_names,
        quota.quota_key(user.user_id, caller_ip(request), org=user.org),
        profile=body.profile.value,
        callback_url=body.callback_url,
        trace_headers=_task_headers(),
    )
    items: list[BatchItem] = []
    for o in outcomes:
        if o.accepted is None:
            items.append(BatchItem(object_name=o.object_name, error=o.problem))
            continue
        if o.accepted.quota is not None:
            response.headers.update(o.accepted.quota.headers())
        url = status_url(o.accepted.task_id)
        items.append(BatchItem(object_name=o.object_name, task_id=o.accepted.task_id, status="queued", status_url=url))
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
    **operation(
        "getReportStatus",
        "Poll a report (redacted by the caller's tier)",
        Report,
        401,
        404,
        other={304: {"description": "Not modified since the ETag in If-None-Match"}},
    ),
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
