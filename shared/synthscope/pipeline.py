"""The worker's job: claim → download → validate → analyze → finalize, safe to run twice.

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
result (content-hash de-duplication).
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from synthscope.audio.validate import check_file
from synthscope.config import Settings
from synthscope.detect.profiles import Profile
from synthscope.errors import AudioTooLong, BadInput, NotFound, SynthscopeError, UploadReplaced
from synthscope.logs import bound
from synthscope.ports import BlobStore, ReportStore
from synthscope.reports.schema import Stage, Status
from synthscope.reports.status import eta_seconds

if TYPE_CHECKING:
    from synthscope.callbacks import Delivery
    from synthscope.engine import Engine
    from synthscope.reports.schema import AnalysisResult

log = logging.getLogger("synthscope.pipeline")


class SharedEngine:
    """The engine keeps per-file state, so a process runs one analysis at a time; everyone shares this lock."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.lock = threading.RLock()
        s = engine.settings
        #: What a stored result depends on besides the bytes: the bundle and the window settings.
        self._key = f"{engine.bundle.sha256}:w{s.window_s:g}:h{s.effective_hop_s:g}"

    def key_for(self, profile: str) -> str:
        """What a stored result depends on besides the bytes: bundle, window settings and profile."""
        return self._key if profile == Profile.default else f"{self._key}:p{profile}"

    def analyze(
        self,
        path: Path,
        progress: Callable[[int, int | None], None] | None = None,
        sha256: str | None = None,
        profile: str = Profile.default,
        max_duration_s: float | None = None,
    ) -> AnalysisResult:
        with self.lock:
            return self.engine.analyze(
                path, progress=progress, sha256=sha256, profile=profile, max_duration_s=max_duration_s
            )


def check_cached_duration(result: dict[str, Any], max_duration_s: float) -> None:
    """A stored result (of the same bytes, maybe another caller's) is served only within this caller's limit."""
    duration = float((result.get("audio") or {}).get("duration_s") or 0.0)
    if duration > max_duration_s + 1.0:
        raise AudioTooLong(f"the audio lasts {duration:.0f} s; the limit is {max_duration_s:.0f} s")


def check_duration(path: Path, max_duration_s: float) -> None:
    """Refuse audio longer than the caller's tier allows, from the container header, before decoding it."""
    from synthscope.audio.decode import AudioStream

    with AudioStream(path, max_duration_s=max_duration_s):
        pass


@dataclass(frozen=True)
class Outcome:
    """What a delivery did. `retry` tells the transport to answer with a retryable status."""

    kind: Literal["completed", "failed", "duplicate", "busy", "missing"]
    task_id: str
    detail: str = ""

    @property
    def retry(self) -> bool:
        return self.kind == "busy"


def problem_for(exc: SynthscopeError, task_id: str) -> dict[str, Any]:
    return {**exc.problem(), "instance": f"/report-status/{task_id}"}


class Transient(Exception):
    """Raised to the transport after the lease was released: the queue should try again."""


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
                outcome, report = self._process_locked(task_id, final_attempt)
            # The callback goes out before the delivery is answered (so a crash cannot lose it) but outside the
            # engine lock (its retries must not hold up other analyses).
            if report is not None:
                delivery = self._notify(task_id, report)
                if outcome.kind == "duplicate" and delivery is not None:
                    outcome = Outcome("duplicate", task_id, f"callback {delivery.state}")
            return outcome

    def _process_locked(self, task_id: str, final_attempt: bool) -> tuple[Outcome, dict[str, Any] | None]:
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
        attempt = claim.report.get("attempts", 1)
        with bound(attempt=attempt):
            outcome = self._run(task_id, claim.report, claim.lease_token, final_attempt)
        if outcome.kind in ("completed", "failed") and claim.report.get("callback_url"):
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

    def _run(self, task_id: str, doc: dict[str, Any], token: str, final_attempt: bool) -> Outcome:
        t_start = self.clock()
        stage_t = [t_start]
        stage_now = [Stage.downloading]

        def stage(new: Stage, **fields: Any) -> None:
            now = self.clock()
            log.info(
                "stage",
                extra={"stage": stage_now[0].value, "next_stage": new.value, "duration_ms": _ms(now - stage_t[0])},
            )
            stage_t[0], stage_now[0] = now, new
            if not self.reports.update(
                task_id, {"stage": new.value, **fields}, lease_token=token, extend_lease_s=self.settings.lease_s
            ):
                raise _LeaseLost()

        try:
            with tempfile.TemporaryDirectory(prefix="synthscope-") as tmp:
                path = Path(tmp) / ("audio" + Path(doc["object_name"]).suffix)
                try:
                    sha = self.blobs.download(doc["object_name"], path)
                except NotFound:
                    raise BadInput("the uploaded object no longer exists") from None
                check_file(path, max_bytes=int(doc.get("max_file_bytes", self.settings.max_file_bytes)))
                if self.reports.pin_object(doc["object_name"], sha) != sha:
                    raise UploadReplaced(
                        "this object was reported before with other bytes; upload the new file under a new URL"
                    )
                profile = str(doc.get("profile") or Profile.default)
                result_key = self.engine.key_for(profile)
                max_dur = float(doc.get("max_duration_s", self.settings.max_duration_s))
                cached = self.reports.cached_result(sha, result_key)
                if cached is not None:
                    check_cached_duration(cached, max_dur)  # another caller's result obeys this caller's tier
                    log.info("de-duplicated: reusing the stored result for these bytes", extra={"sha256": sha})
                    stage(Stage.finalizing)
                    return self._finish_ok(task_id, token, cached, None, stage_now, stage_t)
                stage(Stage.decoding)
                check_duration(path, max_dur)
                result = self.engine.analyze(
                    path,
                    progress=self._progress(task_id, token, stage, self.clock()),
                    sha256=sha,
                    profile=profile,
                    max_duration_s=max_dur,  # enforced on the decoded audio as it streams, whatever the header says
                )
                if result.audio.duration_s > max_dur + 1.0:  # no declared duration in the header: caught here
                    raise AudioTooLong(f"the audio lasts {result.audio.duration_s:.0f} s; the limit is {max_dur:.0f} s")
                stage(Stage.finalizing)
                return self._finish_ok(
                    task_id, token, result.model_dump(mode="json"), (sha, result_key), stage_now, stage_t
                )
        except _LeaseLost:
            log.warning("lease lost to another attempt; leaving the report to it")
            return Outcome("duplicate", task_id, "lease lost")
        except BadInput as exc:
            return self._finish_failed(task_id, token, problem_for(exc, task_id), "bad input: " + exc.detail)
        except Exception as exc:
            if final_attempt:
                problem = {
                    "type": "https://synthscope.dev/problems/processing-failed",
                    "title": "Processing failed",
                    "status": 500,
                    "detail": "the analysis failed on every attempt; try submitting again",
                    "instance": f"/report-status/{task_id}",
                }
                log.exception("final attempt failed; marking the report failed")
                return self._finish_failed(task_id, token, problem, f"final attempt: {exc}")
            log.exception("transient failure; releasing the lease so the queue retries")
            self.reports.update(
                task_id, {"stage": Stage.queued.value}, lease_token=token, extend_lease_s=0.0
            )  # lease ends now: the retry can claim at once
            raise Transient(str(exc)) from exc

    def _progress(
        self, task_id: str, token: str, stage: Callable[..., None], t0: float
    ) -> Callable[[int, int | None], None]:
        last = [float("-inf")]
        analyzing = [False]

        def cb(done: int, total: int | None) -> None:
            now = self.clock()
            if not analyzing[0]:
                analyzing[0] = True
                stage(Stage.analyzing, progress=_progress_doc(done, total))
                last[0] = now
                return
            if now - last[0] < self.settings.progress_interval_s and (total is None or done < total):
                return
            last[0] = now
            ok = self.reports.update(
                task_id,
                {"progress": _progress_doc(done, total), "eta_seconds": eta_seconds(done, total, now - t0)},
                lease_token=token,
                extend_lease_s=self.settings.lease_s,
            )
            if not ok:
                raise _LeaseLost()

        return cb

    def _finish_ok(
        self,
        task_id: str,
        token: str,
        result: dict[str, Any],
        cache_key: tuple[str, str] | None,
        stage_now: list[Stage],
        stage_t: list[float],
    ) -> Outcome:
        windows = result.get("summary", {}).get("windows", 0)
        fields = {
            "status": Status.completed.value,
            "stage": Stage.done.value,
            "progress": _progress_doc(windows, windows),
            "eta_seconds": 0.0,
            "error": None,
            "result": result,
        }
        if not self.reports.finish(task_id, fields, lease_token=token, cache_key=cache_key):
            log.warning("lease lost before finalizing; another attempt owns the report")
            return Outcome("duplicate", task_id, "lease lost")
        log.info(
            "stage",
            extra={
                "stage": stage_now[0].value,
                "next_stage": Stage.done.value,
                "duration_ms": _ms(self.clock() - stage_t[0]),
                "outcome": "completed",
                "verdict": result.get("verdict"),
            },
        )
        return Outcome("completed", task_id, str(result.get("verdict")))

    def _finish_failed(self, task_id: str, token: str, problem: dict[str, Any], why: str) -> Outcome:
        fields = {"status": Status.failed.value, "stage": Stage.done.value, "eta_seconds": None, "error": problem}
        if not self.reports.finish(task_id, fields, lease_token=token):
            return Outcome("duplicate", task_id, "lease lost")
        log.info("report failed", extra={"outcome": "failed", "problem_type": problem["type"], "reason": why})
        return Outcome("failed", task_id, why)


class _LeaseLost(Exception):
    pass


def _progress_doc(done: int, total: int | None) -> dict[str, Any]:
    pct = round(100.0 * done / total, 1) if total else 0.0
    return {"windows_done": done, "windows_total": total, "percent": min(pct, 100.0)}


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


def mark_dead(reports: ReportStore, task_id: str, error: str) -> bool:
    """The queue gave up on a task: fail its report (unless it finished) so clients stop polling."""
    problem = {
        "type": "https://synthscope.dev/problems/processing-failed",
        "title": "Processing failed",
        "status": 500,
        "detail": "the task could not be delivered to the worker after every retry",
        "instance": f"/report-status/{task_id}",
    }
    done = reports.finish(
        task_id,
        {"status": Status.failed.value, "stage": Stage.done.value, "eta_seconds": None, "error": problem},
        lease_token=None,
    )
    if done:
        log.warning("dead-lettered: report marked failed", extra={"task_id": task_id, "error": error})
    return done


def may_be_abandoned(doc: dict[str, Any], max_attempts: int) -> bool:
    """The cheap test on a report already read: processing, and claimed as many times as the queue delivers."""
    return doc.get("status") == Status.processing.value and int(doc.get("attempts", 0)) >= max_attempts


def fail_if_abandoned(reports: ReportStore, doc: dict[str, Any], max_attempts: int) -> dict[str, Any] | None:
    """Fail a report whose every allowed attempt was claimed and abandoned; the failed report, or None (unchanged).

    A worker killed mid-analysis (OOM, a decoder crash, SIGKILL) never writes a terminal state: each delivery
    claims the report (attempts + 1, a new lease) and dies, and after the queue's last attempt Cloud Tasks drops
    the task with no dead-letter hook (the local queue has one: `mark_dead`). So a reader fails it lazily: once
    the report was claimed `max_attempts` times (the queue's own limit, `queue_max_attempts`) and the last lease
    ran out, no attempt is left to finish it. Only a report that passes `may_be_abandoned` costs a store call,
    so a normal poll writes nothing. The store re-checks status, attempts and the lease in one transaction.
    No callback is sent from here (the API does not send callbacks): a report with a `callback_url` failed this
    way is only seen by polling."""
    if not may_be_abandoned(doc, max_attempts):
        return None
    task_id = doc["task_id"]
    attempts = int(doc.get("attempts", 0))
    problem = {
        "type": "https://synthscope.dev/problems/processing-failed",
        "title": "Processing failed",
        "status": 500,
        "detail": (
            f"the worker stopped while analysing this file on every attempt ({attempts}); "
            "it may be too large or malformed for the service"
        ),
        "instance": f"/report-status/{task_id}",
    }
    fields = {"status": Status.failed.value, "stage": Stage.done.value, "eta_seconds": None, "error": problem}
    if not reports.fail_abandoned(task_id, max_attempts=max_attempts, fields=fields):
        return None  # the last attempt's lease is still live, or the report moved on meanwhile
    log.warning("abandoned on every attempt: report marked failed", extra={"task_id": task_id, "attempts": attempts})
    return reports.get(task_id) or {**doc, **fields}


__all__ = ["Outcome", "Pipeline", "SharedEngine", "Transient", "fail_if_abandoned", "mark_dead", "may_be_abandoned"]
