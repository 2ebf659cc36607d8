"""Submitting reports: admit an uploaded object, count it against the tier, store it queued and enqueue it.

What `POST /report` and `POST /reports:batch` do, minus HTTP. Nothing is half-done: a quota
counted for a report that could not be stored or queued is given back, a report whose enqueue
failed is marked failed, and an Idempotency-Key that was refused never points at a report that
will not exist.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
import time
from dataclasses import dataclass
from typing import Any

from synthscope import callbacks
from synthscope.audio.validate import SNIFF_BYTES, check_extension, sniff_bytes
from synthscope.auth import quota
from synthscope.auth.caller import Caller
from synthscope.config import Settings
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
    problem_at,
)
from synthscope.ports import AccountStore, BlobStore, ReportStore, TaskQueue
from synthscope.reports.schema import Stage, Status
from synthscope.reports.status import is_terminal
from synthscope.reports.stored import StoredReport
from synthscope.uploads import owns

log = logging.getLogger("synthscope.reports")

IDEMPOTENCY_TTL_S = 24 * 3600


def new_task_id() -> str:
    return "rep_" + secrets.token_urlsafe(18)


@dataclass(frozen=True)
class Submission:
    """One report asked for: which upload, analysed how, answered where."""

    object_name: str
    profile: str = "default"
    callback_url: str | None = None

    def fingerprint(self) -> str:
        """What an Idempotency-Key is bound to: a replay must ask for exactly the same report."""
        body = {"object_name": self.object_name, "callback_url": self.callback_url, "profile": self.profile}
        canonical = json.dumps(body, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(f"POST /report\n{canonical}".encode()).hexdigest()


@dataclass(frozen=True)
class Accepted:
    task_id: str
    status: str
    quota: quota.QuotaGrant | None = None  # the period quota after counting this report; None when not counted


@dataclass(frozen=True)
class BatchOutcome:
    object_name: str
    accepted: Accepted | None = None
    problem: dict[str, Any] | None = None


@dataclass(frozen=True)
class Upload:
    """An admitted object: it exists, is the caller's, is fresh, fits the tier and starts like audio."""

    object_name: str
    size_bytes: int
    format: str


class Intake:
    """The report-submitting half of the core; `trace_headers` are forwarded to the queue so the worker's log
    lines join the submitting request's trace."""

    def __init__(
        self, settings: Settings, blobs: BlobStore, reports: ReportStore, accounts: AccountStore, queue: TaskQueue
    ) -> None:
        self.settings = settings
        self.blobs, self.reports, self.accounts, self.queue = blobs, reports, accounts, queue

    # -- admission -------------------------------------------------------------------------------------

    def admit_upload(self, caller: Caller, object_name: str) -> Upload:
        if not owns(caller.sub, object_name):
            raise NotFound("no such upload (object names come from POST /generate-upload-url)")
        info = self.blobs.stat(object_name)
        if info is None:
            raise NotFound("no such upload: PUT the file to its upload_url first")
        if time.time() - info.created_at.timestamp() > self.settings.upload_fresh_s:
            raise Gone("the upload is too old to submit; upload the file again")
        if info.size > caller.limits.max_file_bytes:
            raise UploadTooLarge(f"{info.size} bytes is over the {caller.tier.value} tier's limit")
        sniffed = sniff_bytes(self.blobs.read_head(object_name, SNIFF_BYTES))
        check_extension(object_name, sniffed.format)
        return Upload(object_name, info.size, sniffed.format)

    def check_callback(self, caller: Caller, callback_url: str | None) -> None:
        if callback_url is None:
            return
        if not caller.limits.batch_and_webhooks:
            raise Forbidden(f"callbacks are not part of the {caller.tier.value} tier")
        callbacks.check_url(callback_url, local=self.settings.environment == "local")

    # -- one report ------------------------------------------------------------------------------------

    def submit(
        self,
        caller: Caller,
        submission: Submission,
        quota_key: str,
        *,
        idempotency_key: str | None = None,
        trace_headers: dict[str, str] | None = None,
    ) -> Accepted:
        """Same Idempotency-Key and request: the same task (no quota counted); same key with another request: 422;
        same key while the first is still being handled: 409. Over quota or concurrency: 429."""
        upload = self.admit_upload(caller, submission.object_name)
        self.check_callback(caller, submission.callback_url)
        task_id = new_task_id()
        if idempotency_key is not None:
            replay = self._replay(caller, idempotency_key, submission.fingerprint(), task_id)
            if replay is not None:
                return replay
        try:
            grant = self._queue_new(caller, task_id, upload, submission, quota_key, trace_headers)
        except RateLimited:
            if idempotency_key is not None:  # refused: the key must not point at a report that will never exist
                self.reports.forget_idempotency(caller.sub, idempotency_key, task_id)
            raise
        return Accepted(task_id, Status.queued.value, grant)

    def _replay(self, caller: Caller, key: str, fingerprint: str, task_id: str) -> Accepted | None:
        rec = self.reports.remember_idempotency(caller.sub, key, fingerprint, task_id, ttl_s=IDEMPOTENCY_TTL_S)
        if rec.created:
            return None
        if rec.fingerprint != fingerprint:
            raise IdempotencyKeyReused("this Idempotency-Key was used with a different request body")
        existing = self.reports.get(rec.task_id)
        if existing is None:
            raise Conflict("a request with this Idempotency-Key is still being processed; retry shortly")
        if not is_terminal(existing["status"]):
            self.queue.enqueue(rec.task_id, {"task_id": rec.task_id})  # no-op unless a crash lost the first enqueue
        return Accepted(rec.task_id, existing["status"])

    # -- many reports ----------------------------------------------------------------------------------

    def submit_batch(
        self,
        caller: Caller,
        object_names: list[str],
        quota_key: str,
        *,
        profile: str = "default",
        callback_url: str | None = None,
        trace_headers: dict[str, str] | None = None,
    ) -> list[BatchOutcome]:
        """Each object is admitted and queued on its own, in order: one that fails carries its problem and the
        others are queued."""
        if not caller.limits.batch_and_webhooks:
            raise Forbidden(f"batch submission is not part of the {caller.tier.value} tier")
        self.check_callback(caller, callback_url)
        out: list[BatchOutcome] = []
        for name in object_names:
            submission = Submission(name, profile, callback_url)
            try:
                upload = self.admit_upload(caller, name)
                task_id = new_task_id()
                grant = self._queue_new(caller, task_id, upload, submission, quota_key, trace_headers)
            except SynthscopeError as exc:
                out.append(BatchOutcome(name, problem=problem_at(exc, "/reports:batch")))
                continue
            out.append(BatchOutcome(name, accepted=Accepted(task_id, Status.queued.value, grant)))
        return out

    # -- storing and queueing --------------------------------------------------------------------------

    def _queue_new(
        self,
        caller: Caller,
        task_id: str,
        upload: Upload,
        submission: Submission,
        quota_key: str,
        trace_headers: dict[str, str] | None,
    ) -> quota.QuotaGrant | None:
        """Count the report against the tier (429 when over), store it queued and enqueue it; the quota is given
        back when it could not be stored or queued."""
        grant = self._count(caller, quota_key)
        report = StoredReport(
            task_id=task_id,
            owner=caller.sub,
            object_name=upload.object_name,
            max_file_bytes=caller.limits.max_file_bytes,
            max_duration_s=caller.limits.max_duration_s,
            submitted_tier=caller.tier,
            quota_key=quota_key,
            callback_url=submission.callback_url,
            profile=submission.profile,
            size_bytes=upload.size_bytes,
        )
        if not self.reports.create(report.new_document()):
            quota.give_back(self.accounts, grant)
            raise Conflict("task id collision; retry")
        try:
            self.queue.enqueue(task_id, {"task_id": task_id}, headers=trace_headers or {})
        except Exception as exc:
            log.exception("enqueue failed", extra={"task_id": task_id})
            quota.give_back(self.accounts, grant)
            unavailable = Unavailable("the task queue is unavailable; submit again shortly")
            problem = {**unavailable.problem(), "detail": "the task could not be queued; submit again"}
            fields = {"status": Status.failed.value, "stage": Stage.done.value, "error": problem}
            self.reports.finish(task_id, fields, lease_token=None)
            raise unavailable from exc
        log.info(
            "report queued",
            extra={"task_id": task_id, "object_name": upload.object_name, "tier": caller.tier.value},
        )
        return grant

    def _count(self, caller: Caller, quota_key: str) -> quota.QuotaGrant | None:
        if not self.settings.quotas_enforced:
            return None
        running = self.reports.count_active(quota_key, caller.limits.max_concurrent_reports)
        return quota.admit(self.accounts, quota_key, caller.tier, running=running)
