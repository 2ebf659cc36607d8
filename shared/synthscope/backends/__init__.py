"""Backend factory: `Settings.backend` picks the adapters behind the ports.

This is the only module that names a concrete adapter; everything else takes the
`Backends` it returns. Adapters are imported lazily so the local mode never needs a
cloud SDK, and the gcp mode never touches the filesystem database. What a backend needs
served or run beside the API (the local signed-upload target, the local queue's delivery
thread) comes out of here too, behind ports, so the services never branch on the backend.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from synthscope.auth.keys import subkey
from synthscope.config import ScreenSettings, Settings
from synthscope.ports import AccountStore, Background, BlobStore, ReportStore, TaskQueue, UploadReceiver


@dataclass
class Backends:
    blobs: BlobStore
    reports: ReportStore
    queue: TaskQueue
    accounts: AccountStore
    kind: str = "local"
    #: gcp mode: checks the queue's OIDC bearer on worker deliveries (`OidcVerifier.verify`); None in local mode.
    worker_auth: Any = None
    #: Where rate-limit counters live (a `limits` storage): shared by all instances in gcp mode; None = in memory.
    limits_storage: Any = None
    #: Store calls are local and fast (SQLite, the filesystem): async routes may make them inline.
    inline_io: bool = False
    #: The signed-PUT target the API must serve itself; None when clients upload straight to a bucket.
    upload_receiver: UploadReceiver | None = None
    #: Run beside the API while it serves (`start`/`close`).
    background: list[Background] = field(default_factory=list)
    _closers: list[Any] = field(default_factory=list, repr=False)

    def start(self) -> None:
        for task in self.background:
            task.start()

    def close(self) -> None:
        for task in self.background:
            with contextlib.suppress(Exception):
                task.stop()
        for obj in self._closers:
            with contextlib.suppress(Exception):
                obj.close()


def build(settings: Settings, *, deliver_tasks: bool = False) -> Backends:
    """The adapters `settings` ask for. `deliver_tasks`: this process delivers queued tasks to the worker where
    the backend has no queue service of its own (the API in local mode, when `queue_dispatch` is on)."""
    if settings.backend == "local":
        from synthscope.backends.local.accounts import SqliteAccountStore
        from synthscope.backends.local.blobs import LocalBlobStore
        from synthscope.backends.local.queue import RetryPolicy, SqliteTaskQueue
        from synthscope.backends.local.reports import SqliteReportStore

        root = settings.data_dir
        root.mkdir(parents=True, exist_ok=True)
        reports = SqliteReportStore(root / "reports.db")
        accounts = SqliteAccountStore(root / "reports.db")  # one file: data from before the split stays readable
        queue = SqliteTaskQueue(
            root / "queue.db",
            policy=RetryPolicy(
                max_attempts=settings.queue_max_attempts,
                min_backoff_s=settings.queue_min_backoff_s,
                max_backoff_s=settings.queue_max_backoff_s,
                max_doublings=settings.queue_max_doublings,
            ),
            dispatch_deadline_s=settings.queue_dispatch_deadline_s,
        )
        blobs = LocalBlobStore(
            root / "blobs",
            subkey(settings.hmac_secret, "upload-url"),
            default_base_url=settings.public_url or "http://127.0.0.1:8080",
        )
        backends = Backends(blobs, reports, queue, accounts, "local", inline_io=True, upload_receiver=blobs)
        backends._closers += [reports, accounts, queue]
        if deliver_tasks and settings.queue_dispatch:
            backends.background.append(_dispatcher(settings, queue, reports))
        return backends
    from synthscope.backends.gcp.factory import build_gcp

    return build_gcp(settings)


def _dispatcher(settings: Settings, queue: Any, reports: ReportStore) -> Background:
    """The local queue's delivery thread: what Cloud Tasks does in GCP."""
    from synthscope.backends.local.queue import Dispatcher
    from synthscope.reports.lifecycle import mark_dead

    return Dispatcher(
        queue,
        worker_url=settings.worker_url,
        worker_secret=settings.worker_bearer.get_secret_value(),
        queue_name=settings.queue_name,
        max_concurrent=settings.queue_max_concurrent,
        poll_s=settings.queue_poll_s,
        on_dead=lambda task_id, error: mark_dead(reports, task_id, error),
    )


def build_upload_screen_store(settings: ScreenSettings) -> BlobStore:
    """Only the upload bucket, without signing: what the upload screen needs and is allowed to touch (gcp only:
    locally nothing fires on upload)."""
    if not settings.gcp_project:
        raise RuntimeError("SYNTHSCOPE_GCP_PROJECT is required")
    from synthscope.backends.gcp.factory import build_upload_store

    return build_upload_store(settings.gcp_project, settings.upload_bucket)


def _origin(url: str) -> str | None:
    parts = urlsplit(url if "://" in url else f"http://{url}")
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme in ("http", "https") and parts.netloc else None


def upload_origin(settings: Settings) -> str | None:
    """The origin signed upload URLs point at when it is not the API's own (a browser page must be allowed to PUT
    there): the storage endpoint in gcp mode; in local mode the API itself, named by `public_url` when set."""
    if settings.backend == "gcp":
        from synthscope.backends.gcp.factory import signed_url_endpoint

        return _origin(signed_url_endpoint(settings))
    return _origin(settings.public_url) if settings.public_url else None
