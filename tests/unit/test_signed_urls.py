"""Locally signed upload URLs are checked the way Cloud Storage checks V4 signed URLs."""

from __future__ import annotations

import time
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest

from synthscope.backends.local.blobs import LocalBlobStore, UploadGrant
from synthscope.errors import BadInput, Forbidden, LengthRequired, PreconditionFailed, UploadTooLarge
from synthscope.uploads import new_object_name

KEY = b"k" * 32


@pytest.fixture
def store(tmp_path: Path) -> LocalBlobStore:
    return LocalBlobStore(tmp_path / "blobs", KEY)


def _parts(url: str) -> tuple[str, dict[str, str]]:
    u = urlsplit(url)
    return u.path.removeprefix("/local-upload/"), dict(parse_qsl(u.query))


def _signed(store: LocalBlobStore, **kw: object) -> tuple[str, dict[str, str], dict[str, str]]:
    name = new_object_name("anon:test", "song.mp3")
    s = store.signed_upload(name, content_type="audio/mpeg", max_bytes=1000, ttl_s=600, **kw)  # type: ignore[arg-type]
    assert s.method == "PUT" and s.object_name == name
    obj, query = _parts(s.upload_url)
    assert obj == name
    headers = {k.lower(): v for k, v in s.headers.items()}
    return obj, query, headers


def test_valid_put_is_stored_atomically(store: LocalBlobStore) -> None:
    obj, q, h = _signed(store)
    assert h == {
        "content-type": "audio/mpeg",
        "x-goog-content-length-range": "0,1000",
        "x-goog-if-generation-match": "0",
    }
    grant = store.verify_upload("PUT", obj, q, {**h, "content-length": "5"})
    assert grant == UploadGrant(obj, "audio/mpeg", 0, 1000, 5)
    assert store.stat(obj) is None
    with store.writer(grant) as f:
        f.write(b"ID3\x00\x00")
    info = store.stat(obj)
    assert info is not None and info.size == 5 and info.content_type == "audio/mpeg"
    assert store.read_head(obj) == b"ID3\x00\x00"


@pytest.mark.parametrize(
    "change",
    [
        "signature",
        "path",
        "expires",
        "date",
        "content_type",
        "length_range",
        "no_length_range_header",
        "signed_headers",
        "algorithm",
    ],
)
def test_any_tampering_is_403(store: LocalBlobStore, change: str) -> None:
    obj, q, h = _signed(store)
    h = {**h, "content-length": "10"}
    if change == "signature":
        q["X-Synthscope-Signature"] = ("0" if q["X-Synthscope-Signature"][0] != "0" else "1") + q[
            "X-Synthscope-Signature"
        ][1:]
    elif change == "path":
        obj = new_object_name("anon:test", "other.mp3")
    elif change == "expires":
        q["X-Synthscope-Expires"] = "604800"
    elif change == "date":
        q["X-Synthscope-Date"] = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(time.time() + 30))
    elif change == "content_type":
        h["content-type"] = "audio/wav"
    elif change == "length_range":
        h["x-goog-content-length-range"] = "0,1000000000"
    elif change == "no_length_range_header":
        del h["x-goog-content-length-range"]
    elif change == "signed_headers":
        q["X-Synthscope-SignedHeaders"] = "content-type"
    elif change == "algorithm":
        q["X-Synthscope-Algorithm"] = "GOOG4-RSA-SHA256"
    with pytest.raises(Forbidden):
        store.verify_upload("PUT", obj, q, h)


@pytest.mark.parametrize("method", ["GET", "POST", "DELETE"])
def test_only_the_signed_method(store: LocalBlobStore, method: str) -> None:
    obj, q, h = _signed(store)
    with pytest.raises(Forbidden):
        store.verify_upload(method, obj, q, {**h, "content-length": "10"})


def test_expired_url_is_403(store: LocalBlobStore) -> None:
    obj, q, h = _signed(store, now=time.time() - 601)
    with pytest.raises(Forbidden, match="expired"):
        store.verify_upload("PUT", obj, q, {**h, "content-length": "10"})
    obj, q, h = _signed(store, now=time.time() - 590)
    store.verify_upload("PUT", obj, q, {**h, "content-length": "10"})  # still inside its TTL


def test_another_key_cannot_sign(store: LocalBlobStore, tmp_path: Path) -> None:
    obj, q, h = _signed(LocalBlobStore(tmp_path / "other", b"x" * 32))
    with pytest.raises(Forbidden):
        store.verify_upload("PUT", obj, q, {**h, "content-length": "10"})


def test_length_outside_the_signed_range(store: LocalBlobStore) -> None:
    obj, q, h = _signed(store)
    with pytest.raises(UploadTooLarge):
        store.verify_upload("PUT", obj, q, {**h, "content-length": "1001"})
    with pytest.raises(LengthRequired):
        store.verify_upload("PUT", obj, q, h)
    store.verify_upload("PUT", obj, q, {**h, "content-length": "1000"})


def test_short_body_leaves_nothing_behind(store: LocalBlobStore) -> None:
    obj, q, h = _signed(store)
    grant = store.verify_upload("PUT", obj, q, {**h, "content-length": "100"})
    with pytest.raises(BadInput), store.writer(grant) as f:
        f.write(b"x" * 10)
    assert store.stat(obj) is None
    assert not any(store.tmp.iterdir())


def test_hostile_object_names_never_reach_the_filesystem(store: LocalBlobStore) -> None:
    for name in ("../../etc/passwd", "/etc/passwd", "uploads/../../x", "uploads/a/b/c/d", "objects/x.mp3"):
        with pytest.raises(BadInput):
            store.signed_upload(name, content_type="audio/mpeg", max_bytes=10, ttl_s=60)
        with pytest.raises(BadInput):
            store.stat(name)


def test_url_is_absolute_and_round_trips(store: LocalBlobStore) -> None:
    name = new_object_name("anon:test", "a.wav")
    s = store.signed_upload(name, content_type="audio/wav", max_bytes=5, ttl_s=60, base_url="http://127.0.0.1:9/")
    assert s.upload_url.startswith("http://127.0.0.1:9/local-upload/uploads/")
    obj, q = _parts(s.upload_url)
    assert urlencode(q)  # parseable
    store.verify_upload(
        "PUT", obj, q, {"Content-Type": "audio/wav", **{k: v for k, v in s.headers.items()}, "Content-Length": "5"}
    )


def test_a_signed_url_takes_exactly_one_put(store: LocalBlobStore) -> None:
    """Issue 12 hole 3: a URL could be replayed until it expired, overwriting the object (the old code stored the
    second body); now the second PUT is a 412 and the first bytes stay, as GCS's generation precondition does."""
    obj, q, h = _signed(store)
    with store.writer(store.verify_upload("PUT", obj, q, {**h, "content-length": "5"})) as f:
        f.write(b"first")
    with pytest.raises(PreconditionFailed):
        store.verify_upload("PUT", obj, q, {**h, "content-length": "6"})
    assert store.read_head(obj) == b"first"


def test_two_racing_puts_store_one_body(store: LocalBlobStore) -> None:
    obj, q, h = _signed(store)
    a = store.verify_upload("PUT", obj, q, {**h, "content-length": "1"})
    b = store.verify_upload("PUT", obj, q, {**h, "content-length": "1"})  # both checked before either lands
    with store.writer(a) as f:
        f.write(b"a")
    with pytest.raises(PreconditionFailed), store.writer(b) as f:
        f.write(b"b")
    assert store.read_head(obj) == b"a"
    assert not list(store.tmp.iterdir())  # the loser's temp file is gone


def test_the_precondition_header_is_signed(store: LocalBlobStore) -> None:
    obj, q, h = _signed(store)
    for headers in (
        {k: v for k, v in h.items() if k != "x-goog-if-generation-match"},
        {**h, "x-goog-if-generation-match": "7"},
    ):
        with pytest.raises(Forbidden):
            store.verify_upload("PUT", obj, q, {**headers, "content-length": "1"})
