"""File fuzzing: malformed audio through the engine and POST /analyze (issue 12, "keep them closed" item 2).

`generate.py` makes the files; the harness below runs one through either path and says whether the contract held,
so the pytest run (tests/fuzz/test_fuzz_files.py) and the long run (bench/fuzz.py, `make fuzz`) judge alike.
The contract: the engine returns a result or raises a typed `SynthscopeError` below 500; /analyze answers 200
with a result or a 4xx problem+json without a traceback; a class with a fixed outcome (`Case.expect`) gets it.
"""

from __future__ import annotations

import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from synthscope.errors import SynthscopeError
from synthscope.reports.schema import AnalysisResult
from tests.fuzz.generate import BAD_NAME, EMPTY, FINITE, FREE_LIMIT_S, INVALID, RESULT, TOO_LONG, Case

if TYPE_CHECKING:
    from fastapi.testclient import TestClient

    from synthscope.engine import Engine

PROBLEM_JSON = "application/problem+json"
TRACE_MARKERS = ("Traceback", 'File "', '.py", line')
PROBLEM_KEYS = {"type", "title", "status", "detail"}


@dataclass(frozen=True)
class Outcome:
    label: str  # result:<verdict>[/<reason>] | problem:<status>:<slug> | 5xx:<status> | unexpected:<type> | ...
    violation: str | None  # why the contract did not hold; None when it did
    seconds: float


def _result_label(result: AnalysisResult) -> str:
    reason = f"/{result.reason.value}" if result.reason is not None else ""
    return f"result:{result.verdict.value}{reason}"


def _expectation(expect: str | None, label: str, *, api: bool) -> str | None:
    """Why `label` breaks the case's fixed outcome, or None."""
    ok = {
        None: True,
        RESULT: label.startswith("result:"),
        EMPTY: label == "problem:400:empty-file",  # both paths: the same typed problem
        TOO_LONG: label == "problem:413:audio-too-long",
        INVALID: label == "result:not_applicable/invalid_samples",
        FINITE: label.startswith("result:") and not label.endswith("/invalid_samples"),
        BAD_NAME: label == "problem:415:unsupported-media-type" if api else label.startswith("result:"),
    }[expect]
    return None if ok else f"expected {expect}, got {label}"


def run_engine(engine: Engine, case: Case, path: Path, *, max_duration_s: float = FREE_LIMIT_S) -> Outcome:
    """Write the case to `path`, analyse it with the free tier's duration limit, delete it."""
    path.write_bytes(case.data)
    t0 = time.perf_counter()
    violation: str | None = None
    try:
        label = _result_label(engine.analyze(path, max_duration_s=max_duration_s))
    except SynthscopeError as exc:
        label = f"problem:{exc.status}:{exc.slug}"
        if exc.status >= 500:
            violation = f"{type(exc).__name__} ({exc.status}): {exc.detail}"
    except Exception as exc:  # the finding itself: anything untyped escaping the engine
        label = f"unexpected:{type(exc).__name__}"
        violation = "".join(traceback.format_exception(exc, limit=-4))
    finally:
        path.unlink(missing_ok=True)
    seconds = time.perf_counter() - t0
    return Outcome(label, violation or _expectation(case.expect, label, api=False), seconds)


def _problem_violation(doc: Any, status: int, content_type: str, text: str) -> str | None:
    if not content_type.startswith(PROBLEM_JSON):
        return f"{status} with content-type {content_type!r}"
    if not isinstance(doc, dict) or not set(doc) >= PROBLEM_KEYS:
        return f"{status} problem without {sorted(PROBLEM_KEYS)}: {text[:300]}"
    if doc["status"] != status:
        return f"problem status {doc['status']} on a {status} response"
    if any(m in text for m in TRACE_MARKERS):
        return f"a traceback in the problem: {text[:500]}"
    return None


def run_api(client: TestClient, auth: dict[str, str], case: Case) -> Outcome:
    """POST the case to /analyze as a multipart upload under its (maybe hostile) name; judge the answer."""
    t0 = time.perf_counter()
    r = client.post("/analyze", files={"file": (case.name, case.data, "application/octet-stream")}, headers=auth)
    seconds = time.perf_counter() - t0
    status, text = r.status_code, r.text
    try:
        doc = r.json()
    except ValueError:
        doc = None
    violation: str | None = None
    if status >= 500:
        label, violation = f"5xx:{status}", f"{status}: {text[:500]}"
    elif status == 200:
        try:
            label = _result_label(AnalysisResult.model_validate(doc["result"]))  # type: ignore[index]
        except (TypeError, KeyError, ValueError) as exc:
            label, violation = "malformed:200", f"200 without a result body ({exc}): {text[:300]}"
    elif 400 <= status < 500:
        slug = str(doc.get("type", "")).rsplit("/", 1)[-1] if isinstance(doc, dict) else "?"
        label = f"problem:{status}:{slug}"
        violation = _problem_violation(doc, status, r.headers.get("content-type", ""), text)
    else:
        label, violation = f"status:{status}", f"unexpected status {status}: {text[:300]}"
    return Outcome(label, violation or _expectation(case.expect, label, api=True), seconds)
