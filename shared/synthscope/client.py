"""A client for the Synthscope API: the whole flow the web app runs, for `synthscope submit` and the bench.

token → upload URL → PUT (exactly the signed headers) → POST /report → poll
/report-status with If-None-Match, honouring Retry-After. Problems come back as
`ApiProblem` (a `SynthscopeError`), so the CLI prints them like local errors.
"""

from __future__ import annotations

import mimetypes
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from synthscope.errors import SynthscopeError
from synthscope.uploads import EXTENSION_MIMES

#: (windows done, windows total or None, stage)
ProgressFn = Callable[[int, int | None, str], None]


class ApiProblem(SynthscopeError):
    """A problem+json answer (or a failed report's problem) from the API."""

    def __init__(self, problem: dict[str, Any]) -> None:
        super().__init__(str(problem.get("detail") or problem.get("title") or "request failed"))
        self._type = str(problem.get("type", "about:blank"))
        self.title = str(problem.get("title", "Error"))  # type: ignore[misc]
        self.status = int(problem.get("status", 500))  # type: ignore[misc]
        self.problem_doc = problem

    @property
    def type(self) -> str:
        return self._type


def mime_for(path: Path) -> str:
    ext = path.suffix.lower()
    if ext in EXTENSION_MIMES:
        preferred = mimetypes.types_map.get(ext)
        return preferred if preferred in EXTENSION_MIMES[ext] else sorted(EXTENSION_MIMES[ext])[0]
    return mimetypes.guess_type(path.name)[0] or "application/octet-stream"


#: Most object names one POST /reports:batch takes.
BATCH_MAX = 100


class ApiClient:
    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        user_id: str | None = None,
        org_key: str | None = None,
        timeout: float = 60.0,
        client: httpx.Client | None = None,
    ) -> None:
        self.base = base_url.rstrip("/")
        self.api_key = api_key
        self.user_id = user_id
        self.org_key = org_key  # an enterprise API key (ssk_...): sent as the bearer itself, no token needed
        self.http = client or httpx.Client(timeout=timeout, trust_env=False)
        self._token: str | None = None
        self._token_exp = 0.0

    def close(self) -> None:
        self.http.close()

    # -- steps -----------------------------------------------------------------------------------------

    @staticmethod
    def _check(resp: httpx.Response) -> httpx.Response:
        if resp.is_success or resp.status_code == 304:
            return resp
        try:
            doc = resp.json()
        except ValueError:
            doc = {"title": f"HTTP {resp.status_code}", "status": resp.status_code, "detail": resp.text[:200]}
        if not isinstance(doc, dict):
            doc = {"title": f"HTTP {resp.status_code}", "status": resp.status_code, "detail": str(doc)[:200]}
        doc.setdefault("status", resp.status_code)
        raise ApiProblem(doc)

    def token(self) -> str:
        if self.org_key:
            return self.org_key
        if self._token is None or time.time() > self._token_exp - 30:
            headers = {"X-Api-Key": self.api_key} if self.api_key else {}
            body = {"user_id": self.user_id} if self.user_id else None
            doc = self._check(self.http.post(f"{self.base}/auth/token", json=body, headers=headers)).json()
            self._token, self._token_exp = doc["access_token"], time.time() + float(doc["expires_in"])
        return self._token

    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token()}"}

    def upload_url(self, file_name: str, file_type: str, size_bytes: int) -> dict[str, Any]:
        body = {"file_name": file_name, "file_type": file_type, "size_bytes": size_bytes}
        doc: dict[str, Any] = self._check(
            self.http.post(f"{self.base}/generate-upload-url", json=body, headers=self.auth())
        ).json()
        return doc

    def put(self, signed: dict[str, Any], data: bytes) -> None:
        self._check(self.http.request(signed["method"], signed["upload_url"], content=data, headers=signed["headers"]))

    def upload(self, path: Path) -> str:
        data = path.read_bytes()
        signed = self.upload_url(path.name, mime_for(path), len(data))
        self.put(signed, data)
        return str(signed["object_name"])

    def create_report(self, object_name: str, idempotency_key: str | None = None) -> dict[str, Any]:
        headers = self.auth()
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        resp = self.http.post(f"{self.base}/report", json={"object_name": object_name}, headers=headers)
        doc: dict[str, Any] = self._check(resp).json()
        return doc

    def create_batch(self, object_names: list[str]) -> dict[str, Any]:
        """POST /reports:batch (enterprise; at most BATCH_MAX names)."""
        resp = self.http.post(f"{self.base}/reports:batch", json={"object_names": object_names}, headers=self.auth())
        doc: dict[str, Any] = self._check(resp).json()
        return doc

    def status(self, task_id: str, etag: str | None = None) -> tuple[dict[str, Any] | None, httpx.Response]:
        headers = self.auth()
        if etag:
            headers["If-None-Match"] = etag
        resp = self._check(self.http.get(f"{self.base}/report-status/{task_id}", headers=headers))
        return (None if resp.status_code == 304 else resp.json()), resp

    def wait(
        self,
        task_id: str,
        *,
        progress: ProgressFn | None = None,
        timeout_s: float = 3600.0,
        min_interval_s: float = 0.2,
        max_interval_s: float = 10.0,
    ) -> dict[str, Any]:
        """Poll until the report is completed or failed: back off from `min_interval_s`, never past the server's
        Retry-After (or `max_interval_s`), and let ETags turn unchanged polls into 304s."""
        deadline = time.monotonic() + timeout_s
        etag: str | None = None
        doc: dict[str, Any] | None = None
        n = 0
        while True:
            new, resp = self.status(task_id, etag)
            if new is not None:
                doc, etag = new, resp.headers.get("etag")
            assert doc is not None
            if progress:
                p = doc.get("progress") or {}
                progress(int(p.get("windows_done") or 0), p.get("windows_total"), str(doc.get("stage")))
            if doc["status"] in ("completed", "failed"):
                return doc
            if time.monotonic() > deadline:
                raise TimeoutError(f"report {task_id} did not finish in {timeout_s:.0f} s")
            retry_after = resp.headers.get("retry-after")
            cap = float(retry_after) if retry_after and retry_after.isdigit() else max_interval_s
            time.sleep(min(min_interval_s * (1.5**n), cap, max_interval_s))
            n += 1

    def analyze_many(self, paths: list[Path], *, timeout_s: float = 3600.0) -> list[dict[str, Any] | SynthscopeError]:
        """Many files through batches of BATCH_MAX: upload all, queue each batch in one request, then wait for
        each report. One entry per path, in order: the final report, or the problem for that file."""
        out: list[dict[str, Any] | SynthscopeError] = []
        for start in range(0, len(paths), BATCH_MAX):
            chunk = paths[start : start + BATCH_MAX]
            names: dict[int, str] = {}
            got: dict[int, dict[str, Any] | SynthscopeError] = {}
            for i, path in enumerate(chunk):
                try:
                    names[i] = self.upload(path)
                except SynthscopeError as exc:
                    got[i] = exc
            if names:
                items = self.create_batch(list(names.values()))["items"]
                for i, item in zip(names, items, strict=True):
                    got[i] = ApiProblem(item["error"]) if item.get("error") else {"task_id": item["task_id"]}
            for i in range(len(chunk)):
                entry = got[i]
                if isinstance(entry, dict):
                    entry = self.wait(entry["task_id"], timeout_s=timeout_s)
                out.append(entry)
        return out

    def analyze_file(
        self, path: Path, *, progress: ProgressFn | None = None, timeout_s: float = 3600.0
    ) -> dict[str, Any]:
        """The whole flow for one file; returns the final report (status completed or failed)."""
        object_name = self.upload(path)
        accepted = self.create_report(object_name)
        return self.wait(accepted["task_id"], progress=progress, timeout_s=timeout_s)
