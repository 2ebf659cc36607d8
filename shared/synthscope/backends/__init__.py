"""Backend factory: `Settings.backend` picks the adapters behind the ports.

This is the only module that names a concrete adapter; everything else takes the
`Backends` it returns. Adapters are imported lazily so the local mode never needs a
cloud SDK, and the gcp mode never touches the filesystem database.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any

from synthscope.auth.keys import subkey
from synthscope.config import Settings
from synthscope.ports import AccountStore, BlobStore, ReportStore, TaskQueue


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
    _closers: list[Any] = field(default_factory=list, repr=False)

    def close(self) -> None:
        for obj in self._closers:
            with contextlib.suppress(Exception):
                obj.close()


def build(settings: Settings) -> Backends:
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
        return Backends(
            blobs=blobs,
            reports=reports,
            queue=queue,
            accounts=accounts,
            kind="local",
            _closers=[reports, accounts, queue],
        )
    from synthscope.backends.gcp.factory import build_gcp

    return build_gcp(settings)
