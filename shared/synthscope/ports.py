"""The ports the core talks through (DESIGN §7): blobs, the task queue, reports, accounts.

The core depends only on these protocols; `backends/local` and `backends/gcp`
implement them, and settings pick one (`SYNTHSCOPE_BACKEND`, see `backends.build`).
Documents cross the ports as plain JSON-able dicts so every store can hold them.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Any, Literal, Protocol, runtime_checkable


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


@dataclass(frozen=True)
class UploadGrant:
    """A verified PUT: what may be written where."""

    object_name: str
    content_type: str
    min_bytes: int
    max_bytes: int
    content_length: int


@runtime_checkable
class UploadReceiver(Protocol):
    """Where a backend without a storage service of its own receives signed PUTs (local mode: the API serves
    `PUT /local-upload/<object>`); None where clients upload straight to the bucket."""

    def verify_upload(
        self, method: str, object_name: str, query: Mapping[str, str], headers: Mapping[str, str]
    ) -> UploadGrant:
        """Check the request against its signature as the storage service would; raise a RequestError if not."""
        ...

    def writer(self, grant: UploadGrant) -> AbstractContextManager[IO[bytes]]:
        """A file for the body; it becomes the object only if the block ends cleanly with the granted length."""
        ...


@runtime_checkable
class Background(Protocol):
    """Work a backend runs beside the API while it serves (local mode: the queue's delivery thread)."""

    name: str  # as readiness reports it

    def start(self) -> None: ...

    def stop(self) -> None: ...


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


#: How a report callback ended: a 2xx; the receiver's non-retryable answer (4xx); retries exhausted.
CallbackState = Literal["delivered", "rejected", "gave_up"]


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

    def fail_abandoned(self, task_id: str, *, max_attempts: int, fields: dict[str, Any]) -> bool:
        """Write the terminal `fields` (a failure) and clear the lease, atomically, only while the report is
        `processing`, was claimed at least `max_attempts` times and its lease has run out: every attempt the queue
        allows was claimed and abandoned (the worker died each time). False, and no change, otherwise."""
        ...

    def mark_callback(self, task_id: str, state: CallbackState, detail: str) -> None:
        """Record how the report's callback ended: `callback = {"state", "at", "detail"}` on the report (the report's
        own fields and `updated_at` are untouched). No-op when there is no such report. While a finished report
        with a `callback_url` has no record, a redelivery of its task sends the callback again."""
        ...

    def cached_result(self, audio_sha256: str, bundle_sha256: str) -> dict[str, Any] | None: ...

    def pin_object(self, object_name: str, audio_sha256: str) -> str:
        """Record the bytes first analysed under `object_name` (first writer wins, atomically) and return the
        sha256 that is pinned: a different one means the object was replaced after it was reported."""
        ...

    def remember_idempotency(
        self, scope: str, key: str, fingerprint: str, task_id: str, *, ttl_s: int
    ) -> IdempotencyRecord:
        """Store key -> (fingerprint, task_id) unless a live record exists; return whichever is stored."""
        ...

    def forget_idempotency(self, scope: str, key: str, task_id: str) -> None:
        """Drop the record only while it still points at `task_id` (its request was refused before creating it)."""
        ...

    def count_active(self, quota_key: str, limit: int) -> int:
        """How many reports with this `quota_key` are queued or processing (counting stops at `limit`)."""
        ...

    def ping(self) -> None: ...


@runtime_checkable
class AccountStore(Protocol):
    """What is kept about callers rather than reports: quota counters, entitlements (tiers), enterprise API keys,
    billing customers and the webhook events already handled. `auth/` and `billing/` need only this."""

    def consume_quota(self, key: str, period: str, limit: int, *, amount: int = 1) -> tuple[bool, int]:
        """Atomically add `amount` to the (key, period) counter unless that would pass `limit`; (allowed, used after).
        A negative amount gives back (an idempotent replay, a request that failed after counting); never below 0."""
        ...

    def get_entitlement(self, user_id: str) -> dict[str, Any] | None: ...

    def put_api_key(self, key_id: str, record: dict[str, Any]) -> None:
        """Store an API key record (its hash, organisation, name; never the key itself)."""
        ...

    def get_api_key(self, key_id: str) -> dict[str, Any] | None: ...

    def revoke_api_key(self, key_id: str, *, revoked_at: float) -> bool:
        """Mark a key revoked; False when there is no such key or it was revoked already."""
        ...

    def list_api_keys(self, org: str | None = None) -> list[dict[str, Any]]: ...

    def link_customer(self, user_id: str, customer_id: str) -> str:
        """Store user <-> billing customer unless the user has one already; returns the stored customer id."""
        ...

    def customer_for_user(self, user_id: str) -> str | None: ...

    def user_for_customer(self, customer_id: str) -> str | None: ...

    def record_event(self, event_id: str, event_type: str) -> bool:
        """Remember a webhook event id; False when it was seen before (a replay or a redelivery)."""
        ...

    def forget_event(self, event_id: str) -> None:
        """Drop a recorded event whose handling failed, so the provider's retry is handled."""
        ...

    def set_entitlement(self, user_id: str, entitlement: dict[str, Any]) -> None: ...

    def ping(self) -> None: ...
