"""The report's status machine, shared by every ReportStore so they agree on what a claim may do.

queued ──claim──▶ processing ──finish──▶ completed | failed
             ▲          │
             └─ lease expired: a retry may claim it again (the crashed attempt loses its lease)
queued ──dead-letter──▶ failed   (the queue gave up before any attempt finished)
"""

from __future__ import annotations

from synthscope.reports.schema import Stage, Status

TERMINAL: frozenset[Status] = frozenset({Status.completed, Status.failed})

TRANSITIONS: dict[Status, frozenset[Status]] = {
    Status.queued: frozenset({Status.processing, Status.failed}),
    Status.processing: frozenset({Status.processing, Status.completed, Status.failed}),
    Status.completed: frozenset(),
    Status.failed: frozenset(),
}

#: Rough share of the work done when each stage starts, for a progress figure before windows are counted.
STAGE_ORDER: tuple[Stage, ...] = (
    Stage.queued,
    Stage.downloading,
    Stage.decoding,
    Stage.analyzing,
    Stage.finalizing,
    Stage.done,
)


class InvalidTransition(ValueError):
    pass


def check_transition(current: Status | str, new: Status | str) -> None:
    cur, nxt = Status(current), Status(new)
    if nxt not in TRANSITIONS[cur]:
        raise InvalidTransition(f"a report cannot go from {cur.value} to {nxt.value}")


def is_terminal(status: Status | str) -> bool:
    return Status(status) in TERMINAL


def claimable(status: Status | str, lease_expires: float | None, now: float) -> bool:
    """queued, or processing whose lease has run out (its attempt crashed or hung)."""
    st = Status(status)
    if st is Status.queued:
        return True
    return st is Status.processing and (lease_expires is None or lease_expires <= now)


def eta_seconds(done: int, total: int | None, elapsed_s: float, min_done: int = 1) -> float | None:
    """Remaining windows over the measured rate; None until enough windows were seen to measure one."""
    if total is None or done < min_done or elapsed_s <= 0 or done >= total:
        return 0.0 if total is not None and done >= total else None
    rate = done / elapsed_s
    return round((total - done) / rate, 1)


def status_url(task_id: str) -> str:
    """Where a report is polled: the `Location` of a submission and the `instance` of its problems."""
    return f"/report-status/{task_id}"
