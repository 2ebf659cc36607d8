"""Ending reports no attempt will finish: dead-lettered tasks, and reports every allowed attempt abandoned.

The worker's own failures are written by the pipeline; these are the ends nobody is left to
write, so the API (when polled) and the local queue's dead-letter hook write them instead.
"""

from __future__ import annotations

import logging
from typing import Any

from synthscope.errors import ProcessingFailed, problem_at
from synthscope.ports import ReportStore
from synthscope.reports.schema import Stage, Status
from synthscope.reports.status import status_url

log = logging.getLogger("synthscope.pipeline")


def mark_dead(reports: ReportStore, task_id: str, error: str) -> bool:
    """The queue gave up on a task: fail its report (unless it finished) so clients stop polling."""
    problem = problem_at(
        ProcessingFailed("the task could not be delivered to the worker after every retry"), status_url(task_id)
    )
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
    problem = problem_at(
        ProcessingFailed(
            f"the worker stopped while analysing this file on every attempt ({attempts}); "
            "it may be too large or malformed for the service"
        ),
        status_url(task_id),
    )
    fields = {"status": Status.failed.value, "stage": Stage.done.value, "eta_seconds": None, "error": problem}
    if not reports.fail_abandoned(task_id, max_attempts=max_attempts, fields=fields):
        return None  # the last attempt's lease is still live, or the report moved on meanwhile
    log.warning("abandoned on every attempt: report marked failed", extra={"task_id": task_id, "attempts": attempts})
    return reports.get(task_id) or {**doc, **fields}
