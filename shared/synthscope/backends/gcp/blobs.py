"""Cloud Storage BlobStore: V4 signed PUT URLs, metadata, streaming downloads, delete and quarantine.

Signing (DESIGN §7, notes/gcp-pitfalls.md): with a configured service-account key the URL
is signed locally; on Cloud Run there is no private key, so the library signs through IAM
signBlob with `service_account_email` + `access_token`, and the credentials are refreshed
before every signature (a token fetched once at start-up dies after about an hour).
The content type, `x-goog-content-length-range` and `x-goog-if-generation-match: 0` are
signed, and exactly those headers are returned for the client to send: any difference is a
SignatureDoesNotMatch at GCS. The generation precondition makes the URL single-use: once
the object exists, a replayed PUT is a 412 and cannot overwrite what was uploaded.
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from google.api_core import exceptions as gexc
from google.auth.transport.requests import Request
from google.cloud import storage  # type: ignore[attr-defined]

from synthscope.errors import BadInput, NotFound
from synthscope.ports import BlobInfo, SignedUpload
from synthscope.uploads import is_valid_object_name

LENGTH_RANGE_HEADER = "x-goog-content-length-range"
IF_GENERATION_MATCH_HEADER = "x-goog-if-generation-match"
MAX_TTL_S = 7 * 86_400  # V4's ceiling
QUARANTINE_PREFIX = "quarantine/"
CHUNK = 1 << 20


class GcsBlobStore:
    """One bucket. `signing_credentials`: a key-backed credential (signs locally); without one, `iam_credentials`
    (default: the runtime's) sign through IAM signBlob."""

    def __init__(
        self,
        client: storage.Client,
        bucket: str,
        *,
        signing_credentials: Any | None = None,
        iam_credentials: Any | None = None,
        service_account_email: str | None = None,
        api_access_endpoint: str | None = None,
        validate_names: bool = True,
    ) -> None:
        self.client = client
        self.bucket = bucket
        self._bucket = client.bucket(bucket)
        self._signing = signing_credentials
        self._iam = iam_credentials
        self._sa_email = service_account_email
        self._endpoint = api_access_endpoint
        self._validate = validate_names
        self._refresh_lock = threading.Lock()

    def _check(self, object_name: str) -> None:
        if self._validate and not is_valid_object_name(object_name):
            raise BadInput("invalid object name")

    # -- signing ---------------------------------------------------------------------------------------

    def _signer_kwargs(self) -> dict[str, Any]:
        if self._signing is not None:
            return {"credentials": self._signing}
        creds = self._iam
        if creds is None:
            import google.auth

            creds, _ = google.auth.default(scopes=["https://www.googleapis.com/auth/cloud-platform"])
            self._iam = creds
        with self._refresh_lock:
            if not creds.valid:  # refreshed before each use, never once at import
                creds.refresh(Request())
            token = creds.token
        email = self._sa_email or getattr(creds, "service_account_email", None)
        if not email or email == "default":
            raise RuntimeError("IAM signing needs the service account's email (SYNTHSCOPE_GCS_SIGNER_EMAIL)")
        return {"service_account_email": email, "access_token": token}

    def signed_upload(
        self, object_name: str, *, content_type: str, max_bytes: int, ttl_s: int, base_url: str | None = None
    ) -> SignedUpload:
        self._check(object_name)
        ttl = max(1, min(int(ttl_s), MAX_TTL_S))
        signed_headers = {LENGTH_RANGE_HEADER: f"0,{int(max_bytes)}", IF_GENERATION_MATCH_HEADER: "0"}
        issued = datetime.now(UTC).replace(microsecond=0)
        url = self._bucket.blob(object_name).generate_signed_url(
            version="v4",
            expiration=timedelta(seconds=ttl),
            method="PUT",
            content_type=content_type,
            headers=dict(signed_headers),  # the library adds Host to the dict it is given
            api_access_endpoint=self._endpoint,
            **self._signer_kwargs(),
        )
        return SignedUpload(
            upload_url=url,
            method="PUT",
            headers={"Content-Type": content_type, **signed_headers},
            object_name=object_name,
            bucket=self.bucket,
            expires_at=issued + timedelta(seconds=ttl),
        )

    # -- reading ---------------------------------------------------------------------------------------

    def stat(self, object_name: str) -> BlobInfo | None:
        self._check(object_name)
        blob = self._bucket.get_blob(object_name)
        if blob is None:
            return None
        created = blob.time_created or blob.updated or datetime.now(UTC)
        return BlobInfo(
            object_name=object_name, size=int(blob.size or 0), content_type=blob.content_type, created_at=created
        )

    def read_head(self, object_name: str, n: int = 8192) -> bytes:
        self._check(object_name)
        try:
            data: bytes = self._bucket.blob(object_name).download_as_bytes(start=0, end=max(0, n - 1))
        except gexc.NotFound:
            raise NotFound(f"object {object_name} does not exist") from None
        return data[:n]

    def download(self, object_name: str, target: Path) -> str:
        """Streamed in chunks through a file handle (never the whole object in memory); sha256 as it goes."""
        self._check(object_name)
        h = hashlib.sha256()
        try:
            with self._bucket.blob(object_name, chunk_size=8 * CHUNK).open("rb") as src, target.open("wb") as dst:
                while block := src.read(CHUNK):
                    h.update(block)
                    dst.write(block)
        except gexc.NotFound:
            raise NotFound(f"object {object_name} does not exist") from None
        return h.hexdigest()

    # -- writing (results bucket, tools) ---------------------------------------------------------------

    def put_bytes(
        self, object_name: str, data: bytes, content_type: str, *, content_encoding: str | None = None
    ) -> None:
        blob = self._bucket.blob(object_name)
        if content_encoding:
            blob.content_encoding = content_encoding
        blob.upload_from_string(data, content_type=content_type)

    def get_bytes(self, object_name: str) -> bytes:
        """Raw stored bytes (no decompressive transcoding: the caller decodes what it wrote)."""
        try:
            data: bytes = self._bucket.blob(object_name).download_as_bytes(raw_download=True)
        except gexc.NotFound:
            raise NotFound(f"object {object_name} does not exist") from None
        return data

    def delete(self, object_name: str) -> None:
        with contextlib.suppress(gexc.NotFound):  # already gone: deleting is idempotent
            self._bucket.blob(object_name).delete()

    def quarantine(self, object_name: str, reason: str) -> str:
        """Move an object out of the upload namespace (copy, then delete) with the reason in its metadata."""
        src = self._bucket.blob(object_name)
        dest_name = QUARANTINE_PREFIX + object_name
        try:
            copied = self._bucket.copy_blob(src, self._bucket, dest_name)
        except gexc.NotFound:
            raise NotFound(f"object {object_name} does not exist") from None
        copied.metadata = {**(copied.metadata or {}), "quarantine_reason": reason[:512]}
        copied.patch()
        self.delete(object_name)
        return dest_name

    def ping(self) -> None:
        """List at most one object: `storage.objects.list` is in objectViewer, which is all the services get on
        their buckets (a bucket reload would need `storage.buckets.get` and fail /readyz in production)."""
        for _ in self._bucket.list_blobs(max_results=1, timeout=5.0):
            break
