"""The three ports the pipeline talks through (DESIGN §7).

The core depends only on these protocols; `backends/local` and `backends/gcp`
implement them, and settings pick one (`SYNTHSCOPE_BACKEND`, see `backends.build`).
Documents cross the ports as plain JSON-able dicts so every store can hold them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable


@dataclass(frozen=True)
class SignedUpload:
    """What a client needs to PUT bytes straight to storage."""

    upload_url: str
    method: str
    headers: dict[str, str]  # exactly the headers the client must send
    object_name: str
    bucket: str
    expires_at: datetime


@dataclass(frozen=True)
class BlobInfo:
    object_name: str
    size: int
    content_type: str | None
    created_at: datetime


@runtime_checkable
class BlobStore(Protocol):
    bucket: str

    def signed_upload(
        self, object_name: str, *, content_type: str, max_bytes: int, ttl_s: int, base_url: str | None = None
    ) -> SignedUpload:
        """A URL the client can PUT to until it expires; content type and size range are part of the signature."""
        ...

    def stat(self, object_name: str) -> BlobInfo | None:
        """None when the object does not exist."""
        ...

    def read_head(self, object_name: str, n: int = 8192) -> bytes: ...

    def download(self, object_name: str, target: Path) -> str:
        """Stream the object to a local file (never all in memory); returns its sha256 hex digest."""
        ...

    def delete(self, object_name: str) -> None: ...

    def ping(self) -> None:
        """Raise when the store cannot be reached (readiness)."""
        ...


@runtime_checkable
class TaskQueue(Protocol):
    def enqueue(self, task_id: str, payload: dict[str, Any], *, headers: dict[str, str] | None = None) -> bool:
        """Schedule delivery to the worker. Idempotent per task_id: False when it already existed."""
        ...

    def ping(self) -> None: ...


@dataclass(frozen=True)
class Claim:
    """The outcome of `ReportStore.claim`.

    claimed: the caller now holds the lease (`lease_token`) and must process `report`;
    busy: another attempt holds a live lease; finished: completed or failed already;
    missing: no such report.
    """

    outcome: Literal["claimed", "busy", "finished", "missing"]
    report: dict[str, Any] | None = None
    lease_token: str | None = None


@dataclass(frozen=True)
class IdempotencyRecord:
    key: str
    fingerprint: str
    task_id: str
    created: bool  # True when this call stored it; False when it was already there


@runtime_checkable
class ReportStore(Protocol):
    def create(self, report: dict[str, Any]) -> bool:
        """Insert a new report document; False (and no change) when task_id already exists."""
        ...

    def get(self, task_id: str) -> dict[str, Any] | None: ...

    def update(
        self,
        task_id: str,
        fields: dict[str, Any],
        *,
        lease_token: str | None = None,
        extend_lease_s: float | None = None,
    ) -> bool:
        """Merge `fields` into the report. With `lease_token`, only while that lease is held (False otherwise)."""
        ...

    def claim(self, task_id: str, *, worker_id: str, lease_s: float) -> Claim:
        """Atomically move queued (or processing with an expired lease) -> processing under a new lease."""
        ...

    def finish(
        self,
        task_id: str,
        fields: dict[str, Any],
        *,
        lease_token: str | None,
        cache_key: tuple[str, str] | None = None,
    ) -> bool:
        """Write a terminal state once. With a token, only while that lease is held; without one, only when the
        report is not finished yet. `cache_key` (audio sha256, bundle sha256) also stores the result for reuse."""
        ...

    def cached_result(self, audio_sha256: str, bundle_sha256: str) -> dict[str, Any] | None: ...

    def remember_idempotency(
        self, scope: str, key: str, fingerprint: str, task_id: str, *, ttl_s: int
    ) -> IdempotencyRecord:
        """Store key -> (fingerprint, task_id) unless a live record exists; return whichever is stored."""
        ...

    def get_entitlement(self, user_id: str) -> dict[str, Any] | None: ...

    def set_entitlement(self, user_id: str, entitlement: dict[str, Any]) -> None: ...

    def ping(self) -> None: ...
