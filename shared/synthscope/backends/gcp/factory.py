"""Builds the three gcp adapters from settings (called lazily by `backends.build`).

Emulators are picked up the usual way: FIRESTORE_EMULATOR_HOST and STORAGE_EMULATOR_HOST
by the clients themselves; Cloud Tasks has no such variable, so `tasks_emulator_host`
gives it an insecure channel.
"""

from __future__ import annotations

import os
from typing import Any

from google.cloud import firestore, storage, tasks_v2  # type: ignore[attr-defined]

from synthscope.backends import Backends
from synthscope.backends.gcp.accounts import FirestoreAccountStore
from synthscope.backends.gcp.blobs import GcsBlobStore
from synthscope.backends.gcp.oidc import OidcVerifier
from synthscope.backends.gcp.queue import CloudTasksQueue
from synthscope.backends.gcp.ratelimits import FirestoreLimitsStorage
from synthscope.backends.gcp.reports import FirestoreReportStore
from synthscope.config import Settings

GCS_ENDPOINT = "https://storage.googleapis.com"


def _storage_client(project: str) -> storage.Client:
    if os.environ.get("STORAGE_EMULATOR_HOST"):
        from google.auth.credentials import AnonymousCredentials

        return storage.Client(project=project, credentials=AnonymousCredentials())
    return storage.Client(project=project)


def signed_url_endpoint(settings: Settings) -> str:
    """Where V4 signed URLs point: the configured endpoint, the emulator the client uses, or GCS itself."""
    return settings.gcs_signed_url_endpoint or os.environ.get("STORAGE_EMULATOR_HOST") or GCS_ENDPOINT


def _tasks_client(settings: Settings) -> tasks_v2.CloudTasksClient:
    if settings.tasks_emulator_host:
        import grpc
        from google.cloud.tasks_v2.services.cloud_tasks.transports import CloudTasksGrpcTransport

        channel = grpc.insecure_channel(settings.tasks_emulator_host)
        return tasks_v2.CloudTasksClient(transport=CloudTasksGrpcTransport(channel=channel))
    return tasks_v2.CloudTasksClient()


def build_upload_store(project: str, bucket: str) -> GcsBlobStore:
    """Only the upload bucket (no signing): what the upload screen needs and is allowed to touch."""
    return GcsBlobStore(_storage_client(project), bucket)


def build_gcp(settings: Settings) -> Backends:
    if not settings.gcp_project:
        raise ValueError("SYNTHSCOPE_GCP_PROJECT is required with SYNTHSCOPE_BACKEND=gcp")
    project = settings.gcp_project
    signing = None
    if settings.gcs_signing_key_file is not None:
        from google.oauth2 import service_account

        signing = service_account.Credentials.from_service_account_file(str(settings.gcs_signing_key_file))
    gcs = _storage_client(project)
    blobs = GcsBlobStore(
        gcs,
        settings.upload_bucket,
        signing_credentials=signing,
        service_account_email=settings.gcs_signer_email,
        api_access_endpoint=settings.gcs_signed_url_endpoint,
    )
    results = GcsBlobStore(gcs, settings.results_bucket, validate_names=False)
    db = firestore.Client(project=project, database=settings.firestore_database)
    reports = FirestoreReportStore(
        db,
        spill=results,
        spill_bytes=settings.timeline_spill_bytes,
        prefix=settings.firestore_prefix,
    )
    queue = CloudTasksQueue(
        _tasks_client(settings),
        project=project,
        location=settings.gcp_location,
        queue=settings.queue_name,
        worker_url=settings.worker_url,
        invoker_email=settings.invoker_email,
        audience=settings.worker_audience,
        dispatch_deadline_s=settings.queue_dispatch_deadline_s,
    )
    auth = None
    if settings.invoker_email:  # the worker's check of Cloud Tasks' ID token (audience = the worker's base URL)
        auth = OidcVerifier(
            audience=settings.worker_audience or settings.worker_url,
            invoker_email=settings.invoker_email,
            certs_url=settings.oidc_certs_url,
        )
    closers: list[Any] = [reports, queue]
    return Backends(
        blobs=blobs,
        reports=reports,
        queue=queue,
        accounts=FirestoreAccountStore(db, prefix=settings.firestore_prefix),
        kind="gcp",
        worker_auth=auth,
        limits_storage=FirestoreLimitsStorage(db, f"{settings.firestore_prefix}rate_limits"),
        _closers=closers,
    )
