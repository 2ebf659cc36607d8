"""Structured JSON logs, one object per line, in the shape Cloud Logging reads from stdout.

`severity`, `message`, `time`, `logging.googleapis.com/trace` and `/spanId` are the
keys Cloud Logging lifts into the entry; a request line carries `httpRequest`.
Request id and trace travel in context variables, so every line written while a
request (or a task delivery) is handled carries them without passing them around.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import re
import sys
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
trace_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("trace", default=None)
span_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("span", default=None)
fields_var: contextvars.ContextVar[Mapping[str, Any]] = contextvars.ContextVar("log_fields", default={})  # noqa: B039

_STD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime", "taskName", "color_message"}
_TRACEPARENT = re.compile(r"^[0-9a-f]{2}-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}$")
_CLOUD_TRACE = re.compile(r"^([0-9a-fA-F]{32})(?:/(\d+))?")

SEVERITY = {
    logging.DEBUG: "DEBUG",
    logging.INFO: "INFO",
    logging.WARNING: "WARNING",
    logging.ERROR: "ERROR",
    logging.CRITICAL: "CRITICAL",
}


class JsonFormatter(logging.Formatter):
    def __init__(self, project: str | None = None) -> None:
        super().__init__()
        self.project = project

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "severity": SEVERITY.get(record.levelno, record.levelname),
            "message": record.getMessage(),
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="microseconds"),
            "logger": record.name,
        }
        trace = trace_var.get()
        if trace:
            entry["logging.googleapis.com/trace"] = f"projects/{self.project}/traces/{trace}" if self.project else trace
            span = span_var.get()
            if span:
                entry["logging.googleapis.com/spanId"] = span
        rid = request_id_var.get()
        if rid:
            entry["request_id"] = rid
        entry.update(fields_var.get())
        for k, v in record.__dict__.items():
            if k not in _STD and not k.startswith("_"):
                entry[k] = v
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
            entry.setdefault(
                "@type", "type.googleapis.com/google.devtools.clouderrorreporting.v1beta1.ReportedErrorEvent"
            )
        return json.dumps(entry, default=str, ensure_ascii=False)


def parse_trace(headers: Mapping[str, str]) -> tuple[str | None, str | None]:
    """(trace id, span id) from W3C `traceparent` or Google's `X-Cloud-Trace-Context`."""
    tp = headers.get("traceparent")
    if tp and (m := _TRACEPARENT.match(tp.strip())):
        return m.group(1), m.group(2)
    xc = headers.get("x-cloud-trace-context")
    if xc and (m := _CLOUD_TRACE.match(xc.strip())):
        span = m.group(2)
        return m.group(1).lower(), (f"{int(span):016x}" if span else None)
    return None, None


@contextlib.contextmanager
def bound(**fields: Any) -> Iterator[None]:
    """Add fields to every log line written inside the block (in this context)."""
    token = fields_var.set({**fields_var.get(), **fields})
    try:
        yield
    finally:
        fields_var.reset(token)


def configure(level: str = "INFO", project: str | None = None) -> None:
    """JSON lines on stdout for the root logger and uvicorn's, which then carry the same fields."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter(project))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        lg = logging.getLogger(name)
        lg.handlers[:] = []
        lg.propagate = True
    logging.getLogger("httpx").setLevel(logging.WARNING)  # the queue's deliveries are logged by the queue itself
    # One line per request comes from our middleware, with status, latency and trace: uvicorn's own is a duplicate.
    logging.getLogger("uvicorn.access").disabled = True
