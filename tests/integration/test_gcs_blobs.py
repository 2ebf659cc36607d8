"""GcsBlobStore on gcp-storage-emulator, with every signed URL verified independently (the emulator never checks)."""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from synthscope.backends.gcp.blobs import LENGTH_RANGE_HEADER, GcsBlobStore
from synthscope.errors import BadInput, NotFound
from synthscope.uploads import new_object_name, owns, sanitize_file_name
from tests.fixtures.gcp import storage_client
from tests.fixtures.v4 import SignatureError, enforce_signatures, new_service_account, verify_v4

BUCKET = "synthscope-uploads"


@pytest.fixture(scope="module")
def signer() -> tuple[Any, Any]:
    return new_service_account()


@pytest.fixture
def blobs(gcs_emu: Any, signer: tuple[Any, Any]) -> Iterator[GcsBlobStore]:
    undo = enforce_signatures(signer[1])
    try:
        yield GcsBlobStore(
            storage_client(gcs_emu.url), BUCKET, signing_credentials=signer[0], api_access_endpoint=gcs_emu.url
        )
    finally:
        undo()
        gcs_emu.reset()


def put(url: str, data: bytes, headers: dict[str, str]) -> httpx.Response:
    return httpx.put(url, content=data, headers=headers, trust_env=False, timeout=10)


def test_signed_put_round_trip(blobs: GcsBlobStore, signer: tuple[Any, Any], tmp_path: Path) -> None:
    name = new_object_name("user:alice", sanitize_file_name("take one.wav"))
    data = b"RIFF" + bytes(range(256)) * 40
    signed = blobs.signed_upload(name, content_type="audio/wav", max_bytes=20_000, ttl_s=600)
    assert signed.method == "PUT" and signed.bucket == BUCKET and signed.object_name == name
    assert signed.headers == {
        "Content-Type": "audio/wav",
        LENGTH_RANGE_HEADER: "0,20000",
        "x-goog-if-generation-match": "0",  # single-use: GCS answers 412 once the object exists
    }
    assert 590 <= (signed.expires_at - datetime.now(UTC)).total_seconds() <= 601
    verify_v4("PUT", signed.upload_url, signed.headers, signer[1])  # what the client sends verifies
    assert put(signed.upload_url, data, signed.headers).status_code == 200
    replay = put(signed.upload_url, b"RIFF" + b"x" * 100, signed.headers)  # issue 12 hole 3: was a 200 overwrite
    assert replay.status_code == 412

    info = blobs.stat(name)
    assert info is not None and info.size == len(data) and info.content_type == "audio/wav"
    assert abs(info.created_at.timestamp() - time.time()) < 60  # the API's freshness check reads this
    assert owns("user:alice", name) and not owns("user:bob", name)
    assert blobs.read_head(name, 4) == b"RIFF"
    assert blobs.download(name, tmp_path / "x.wav") == hashlib.sha256(data).hexdigest()
    assert (tmp_path / "x.wav").read_bytes() == data

    blobs.delete(name)
    blobs.delete(name)  # idempotent
    assert blobs.stat(name) is None
    with pytest.raises(NotFound):
        blobs.read_head(name)
    with pytest.raises(NotFound):
        blobs.download(name, tmp_path / "y.wav")


def test_tampered_expired_and_wrong_header_urls_fail(blobs: GcsBlobStore, signer: tuple[Any, Any]) -> None:
    name = new_object_name("user:alice", "a.mp3")
    s = blobs.signed_upload(name, content_type="audio/mpeg", max_bytes=1000, ttl_s=60)
    pub = signer[1]
    verify_v4("PUT", s.upload_url, s.headers, pub)
    cases = {
        "wrong content type": ("PUT", s.upload_url, {**s.headers, "Content-Type": "text/html"}),
        "wrong length range": ("PUT", s.upload_url, {**s.headers, LENGTH_RANGE_HEADER: "0,999999"}),
        "missing range header": ("PUT", s.upload_url, {"Content-Type": "audio/mpeg"}),
        "wrong method": ("GET", s.upload_url, s.headers),
        "other object": ("PUT", s.upload_url.replace("/a.mp3?", "/b.mp3?"), s.headers),
        "longer expiry": ("PUT", s.upload_url.replace("X-Goog-Expires=60", "X-Goog-Expires=6000"), s.headers),
        "oversize body": ("PUT", s.upload_url, {**s.headers, "Content-Length": "1001"}),
    }
    for why, (method, url, headers) in cases.items():
        with pytest.raises(SignatureError):
            verify_v4(method, url, headers, pub)
            pytest.fail(why)
    with pytest.raises(SignatureError, match="Expired"):
        verify_v4("PUT", s.upload_url, s.headers, pub, now=time.time() + 61)
    with pytest.raises(SignatureError):
        verify_v4("PUT", s.upload_url, s.headers, new_service_account()[1])  # another key
    # and the emulator, with the check in front of it, refuses what GCS would refuse
    assert put(s.upload_url, b"ID3" + b"\0" * 10, {**s.headers, "Content-Type": "text/plain"}).status_code == 403
    assert put(s.upload_url.replace("/a.mp3?", "/b.mp3?"), b"x", s.headers).status_code == 403
    assert put(s.upload_url, b"ID3" + b"\0" * 10, s.headers).status_code == 200


def test_names_are_checked_and_quarantine_moves_the_object(blobs: GcsBlobStore) -> None:
    with pytest.raises(BadInput):
        blobs.signed_upload("../etc/passwd", content_type="audio/wav", max_bytes=10, ttl_s=60)
    with pytest.raises(BadInput):
        blobs.stat("uploads/../x")
    name = new_object_name("user:mallory", "evil.wav")
    blobs.put_bytes(name, b"<html>not audio</html>", "audio/wav")
    dest = blobs.quarantine(name, "not audio: text/html")
    assert blobs.stat(name) is None
    moved = blobs.client.bucket(BUCKET).get_blob(dest)
    assert moved is not None and moved.metadata == {"quarantine_reason": "not audio: text/html"}


def test_iam_signing_refreshes_credentials_before_each_use() -> None:
    """On Cloud Run there is no key: the store passes email + a fresh access token (signBlob is not reachable here,
    so this checks what is handed to the library)."""
    from google.auth import credentials as ga_credentials

    class RuntimeCreds(ga_credentials.Credentials):
        """Stands in for Cloud Run's metadata-server credentials: tokens expire, refresh mints a new one."""

        service_account_email = "api@demo-synthscope.iam.gserviceaccount.com"

        def __init__(self) -> None:
            super().__init__()
            self.refreshes = 0

        def refresh(self, request: Any) -> None:
            self.refreshes += 1
            self.token = f"tok{self.refreshes}"
            self.expiry = datetime.now(UTC).replace(tzinfo=None)  # already stale next time

    creds = RuntimeCreds()
    store = GcsBlobStore(storage_client("http://127.0.0.1:9"), BUCKET, iam_credentials=creds)
    first = store._signer_kwargs()
    second = store._signer_kwargs()
    assert first == {"service_account_email": creds.service_account_email, "access_token": "tok1"}
    assert second["access_token"] == "tok2" and creds.refreshes == 2


def test_ping_needs_only_object_listing_and_fails_for_a_missing_bucket(blobs: GcsBlobStore, gcs_emu: Any) -> None:
    blobs.ping()  # with objects in the bucket or none
    missing = GcsBlobStore(storage_client(gcs_emu.url), "no-such-bucket-" + uuid.uuid4().hex[:8])
    with pytest.raises(Exception, match=r"(?i)not ?found|404"):
        missing.ping()
