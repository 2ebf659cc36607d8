"""The worker's job: claim → download → analyse → finalize, safe to run twice.

Delivery is at-least-once, so every step is written for a second (or concurrent)
delivery of the same task:
- the claim is atomic and leased: one attempt works at a time, and a crashed
  attempt's lease runs out so the retry can take over;
- the terminal write is conditional on still holding the lease, so a late,
  superseded attempt can never overwrite or duplicate a result;
- permanently bad input ends as a `failed` report and a 2xx (no retry storm);
  anything else is transient: the lease is released and the queue retries;
- a report with a `callback_url` is answered to the queue only after its callback
  got a definitive answer and that was recorded (`mark_callback`); a redelivery of a
  finished report whose callback is unrecorded sends it (at-least-once callbacks).
The same bytes analysed with the same bundle and window settings reuse the stored
result (content-hash de-duplication, in `analysis.analyze_file`).
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import ValidationError

from synthscope.analysis import Limits, SharedEngine, analyze_file
from synthscope.config import Settings
from synthscope.errors import BadInput, NotFound, ProcessingFailed, UploadReplaced, problem_at
from synthscope.logs import bound
from synthscope.ports import BlobStore, ReportStore
from synthscope.reports.schema import Stage, Status
from synthscope.reports.status import eta_seconds, status_url
from synthscope.reports.stored import StoredReport

if TYPE_CHECKING:
    from synthscope.callbacks import Delivery

log = logging.getLogger("synthscope.pipeline")


@dataclass(frozen=True)
class Outcome:
    """What a delivery did. `retry` tells the transport to answer with a retryable status."""

    kind: Literal["completed", "failed", "duplicate", "busy", "missing"]
    task_id: str
    detail: str = ""

    @property
    def retry(self) -> bool:
        return self.kind == "busy"


class Transient(Exception):
    """Raised to the transport after the lease was released: the queue should try again."""


class _LeaseLost(Exception):
    pass


class _Attempt:
    """One claimed attempt's writes: stage changes and progress, each only while the lease is held, and a log line
    per stage with its duration."""

    def __init__(self, pipeline: Pipeline, report: StoredReport, lease_token: str) -> None:
        self.reports = pipeline.reports
        self.settings = pipeline.settings
        self.clock = pipeline.clock
        self.report = report
        self.task_id = report.task_id
        self.token = lease_token
        self.stage = Stage.downloading
        self.started = self.stage_started = self.last_progress = self.clock()
        self.analyzing = False

    def _write(self, fields: dict[str, Any]) -> None:
        if not self.reports.update(self.task_id, fields, lease_token=self.token, extend_lease_s=self.settings.lease_s):
            raise _LeaseLost()

    def _log_stage_end(self, new: Stage, **extra: Any) -> None:
        now = self.clock()
        ms = round((now - self.stage_started) * 1000, 1)
        log.info("stage", extra={"stage": self.stage.value, "next_stage": new.value, "duration_ms": ms, **extra})
        self.stage, self.stage_started = new, now

    def enter(self, new: Stage, **fields: Any) -> None:
        self._log_stage_end(new)
        self._write({"stage": new.value, **fields})

    def progress(self, done: int, total: int | None) -> None:
        """The engine's progress callback: the first call starts the analyzing stage, later ones write at most
        every `progress_interval_s` (and always the last)."""
        now = self.clock()
        if not self.analyzing:
            self.analyzing = True
            self.enter(Stage.analyzing, progress=_progress_doc(done, total))
            self.last_progress = now
            return
        if now - self.last_progress < self.settings.progress_interval_s and (total is None or done < total):
            return
        self.last_progress = now
        eta = eta_seconds(done, total, now - self.started)
        self._write({"progress": _progress_doc(done, total), "eta_seconds": eta})

    def completed(self, result: dict[str, Any], cache_key: tuple[str, str] | None) -> Outcome:
        windows = result.get("summary", {}).get("windows", 0)
        fields = {
            "status": Status.completed.value,
            "stage": Stage.done.value,
            "progress": _progress_doc(windows, windows),
            "eta_seconds": 0.0,
            "error": None,
            "result": result,
        }
        if not self.reports.finish(self.task_id, fields, lease_token=self.token, cache_key=cache_key):
            log.warning("lease lost before finalizing; another attempt owns the report")
            return Outcome("duplicate", self.task_id, "lease lost")
        self._log_stage_end(Stage.done, outcome="completed", verdict=result.get("verdict"))
        return Outcome("completed", self.task_id, str(result.get("verdict")))

    def failed(self, problem: dict[str, Any], why: str) -> Outcome:
        fields = {"status": Status.failed.value, "stage": Stage.done.value, "eta_seconds": None, "error": problem}
        if not self.reports.finish(self.task_id, fields, lease_token=self.token):
            return Outcome("duplicate", self.task_id, "lease lost")
        log.info("report failed", extra={"outcome": "failed", "problem_type": problem["type"], "reason": why})
        return Outcome("failed", self.task_id, why)

    def release(self) -> None:
        """End the lease now, so the queue's retry can claim at once."""
        self.reports.update(self.task_id, {"stage": Stage.queued.value}, lease_token=self.token, extend_lease_s=0.0)


class Pipeline:
    def __init__(
        self,
        settings: Settings,
        engine: SharedEngine,
        blobs: BlobStore,
        reports: ReportStore,
        *,
        worker_id: str | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.blobs = blobs
        self.reports = reports
        self.worker_id = worker_id or f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"
        self.clock = clock

    def process(self, task_id: str, *, final_attempt: bool = False) -> Outcome:
        with bound(task_id=task_id):
            with self.engine.lock:
                outcome, report = self._claim_and_analyze(task_id, final_attempt)
            # The callback goes out before the delivery is answered (so a crash cannot lose it) but outside the
            # engine lock (its retries must not hold up other analyses).
            if report is not None:
                delivery = self._notify(task_id, report)
                if outcome.kind == "duplicate" and delivery is not None:
                    outcome = Outcome("duplicate", task_id, f"callback {delivery.state}")
            return outcome

    def _claim_and_analyze(self, task_id: str, final_attempt: bool) -> tuple[Outcome, dict[str, Any] | None]:
        """The outcome, and the finished report when its callback is still to be sent."""
        claim = self.reports.claim(task_id, worker_id=self.worker_id, lease_s=self.settings.lease_s)
        if claim.outcome == "missing":
            log.warning("no such report; dropping the task")
            return Outcome("missing", task_id), None
        if claim.outcome == "finished":
            assert claim.report is not None
            if claim.report.get("callback_url") and not claim.report.get("callback"):
                # the attempt that finished it died before its callback got an answer: send it now
                log.info("duplicate delivery of a finished report whose callback is unrecorded: sending it")
                return Outcome("duplicate", task_id), claim.report
            log.info("duplicate delivery of a finished report: no-op", extra={"status": claim.report["status"]})
            return Outcome("duplicate", task_id), None
        if claim.outcome == "busy":
            log.info("another attempt holds the lease; retry later")
            return Outcome("busy", task_id), None
        assert claim.report is not None and claim.lease_token is not None
        try:
            report = StoredReport.model_validate(claim.report)
        except ValidationError as exc:  # written by something other than the intake: no attempt can do better
            log.error("malformed stored report; failing it", extra={"error": str(exc)[:500]})
            broken = ProcessingFailed("the stored report is malformed; submit the file again")
            fields = {
                "status": Status.failed.value,
                "stage": Stage.done.value,
                "error": problem_at(broken, status_url(task_id)),
            }
            self.reports.finish(task_id, fields, lease_token=claim.lease_token)
            return Outcome("failed", task_id, "malformed stored report"), None
        with bound(attempt=report.attempts or 1):
            outcome = self._analyze_claimed(_Attempt(self, report, claim.lease_token), final_attempt)
        if outcome.kind in ("completed", "failed") and report.callback_url:
            return outcome, claim.report
        return outcome, None

    def _notify(self, task_id: str, report: dict[str, Any]) -> Delivery | None:
        """POST the finished report to its callback_url until a definitive answer, then record how it ended.

        Until `mark_callback` has run, a redelivery of the task sends the callback again (at-least-once): a
        crash here loses nothing. A callback that gives up is recorded and logged; the task is still done."""
        from synthscope import callbacks
        from synthscope.reports.redact import redact_report
        from synthscope.reports.schema import Report

        doc = self.reports.get(task_id)
        if doc is None or doc.get("callback"):
            return None
        view = redact_report(doc, doc.get("submitted_tier", "free"))
        payload = {k: view.get(k) for k in Report.model_fields}
        try:
            delivery = callbacks.deliver(self.settings, report["callback_url"], doc.get("owner", ""), payload)
            self.reports.mark_callback(task_id, delivery.state, delivery.detail)
        except Exception as exc:  # unexpected: left unrecorded, so the queue's retry sends the callback again
            log.exception("callback step failed; the delivery will be retried")
            raise Transient(f"callback step failed: {exc}") from exc
        log.info("callback recorded", extra={"callback_state": delivery.state, "callback_detail": delivery.detail})
        return delivery

    # -- one claimed attempt ---------------------------------------------------------------------------

    def _analyze_claimed(self, attempt: _Attempt, final_attempt: bool) -> Outcome:
        report = attempt.report
        try:
            with tempfile.TemporaryDirectory(prefix="synthscope-") as tmp:
                path = Path(tmp) / ("audio" + Path(report.object_name).suffix)
                sha = self._download(report.object_name, path)
                analysed = analyze_file(
                    self.engine,
                    self.reports,
                    path,
                    sha,
                    Limits(report.max_file_bytes, report.max_duration_s),
                    name=report.object_name,
                    profile=report.profile,
                    on_decoding=lambda: attempt.enter(Stage.decoding),
                    progress=attempt.progress,
                )
            if analysed.cache_key is None:
                log.info("de-duplicated: reusing the stored result for these bytes", extra={"sha256": sha})
            attempt.enter(Stage.finalizing)
            return attempt.completed(analysed.result, analysed.cache_key)
        except _LeaseLost:
            log.warning("lease lost to another attempt; leaving the report to it")
            return Outcome("duplicate", report.task_id, "lease lost")
        except BadInput as exc:
            return attempt.failed(problem_at(exc, status_url(report.task_id)), "bad input: " + exc.detail)
        except Exception as exc:
            if final_attempt:
                failed = ProcessingFailed("the analysis failed on every attempt; try submitting again")
                log.exception("final attempt failed; marking the report failed")
                return attempt.failed(problem_at(failed, status_url(report.task_id)), f"final attempt: {exc}")
            log.exception("transient failure; releasing the lease so the queue retries")
            attempt.release()
            raise Transient(str(exc)) from exc

    def _download(self, object_name: str, path: Path) -> str:
        """The object on local disk; its sha256, pinned to the name (the bytes first reported under a name are
        the only ones ever analysed under it)."""
        try:
            sha = self.blobs.download(object_name, path)
        except NotFound:
            raise BadInput("the uploaded object no longer exists") from None
        if self.reports.pin_object(object_name, sha) != sha:
            raise UploadReplaced(
                "this object was reported before with other bytes; upload the new file under a new URL"
            )
        return sha


def _progress_doc(done: int, total: int | None) -> dict[str, Any]:
    pct = round(100.0 * done / total, 1) if total else 0.0
    return {"windows_done": done, "windows_total": total, "percent": min(pct, 100.0)}
