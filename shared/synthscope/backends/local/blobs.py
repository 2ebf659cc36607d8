"""Filesystem BlobStore with upload URLs signed like Cloud Storage V4 signed URLs.

The API signs the URL and serves it (`PUT /local-upload/<object>`); the checks are
the ones GCS makes: the signature covers the method, the path, the expiry and
the signed headers (Content-Type, `x-goog-content-length-range` and
`x-goog-if-generation-match: 0`), so a changed method, type, path or expiry is a
403, and a body outside the signed length range is refused before a byte is
stored. The URL is single-use, as the generation precondition makes it on GCS: a
PUT to an object that already exists is a 412 and changes nothing. Objects appear
atomically (temp file + link); half an upload is never visible.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import IO
from urllib.parse import quote, urlencode

from synthscope.errors import BadInput, Forbidden, LengthRequired, NotFound, PreconditionFailed, UploadTooLarge
from synthscope.ports import BlobInfo, SignedUpload, UploadGrant
from synthscope.uploads import is_valid_object_name

ALGORITHM = "SYNTHSCOPE-HMAC-SHA256"
UPLOAD_ROUTE = "/local-upload/"
MAX_TTL_S = 7 * 86_400  # V4's own ceiling
CLOCK_SKEW_S = 60
LENGTH_RANGE_HEADER = "x-goog-content-length-range"
#: GCS's create-only precondition: generation 0 means "only if no live object has this name".
IF_GENERATION_MATCH_HEADER = "x-goog-if-generation-match"
SIGNED_HEADERS = ("content-type", LENGTH_RANGE_HEADER, IF_GENERATION_MATCH_HEADER)
Q_ALG, Q_DATE, Q_EXPIRES, Q_HEADERS, Q_SIG = (
    "X-Synthscope-Algorithm",
    "X-Synthscope-Date",
    "X-Synthscope-Expires",
    "X-Synthscope-SignedHeaders",
    "X-Synthscope-Signature",
)


_ALREADY_UPLOADED = (
    "PreconditionFailed: this upload URL has been used; each URL takes exactly one PUT (ask for a new one)"
)


def _amz_date(ts: float) -> str:
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(ts))


def _parse_date(s: str) -> float:
    return datetime.strptime(s, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC).timestamp()


def _canonical_query(params: Mapping[str, str]) -> str:
    """Sorted, percent-encoded, without the signature: what is signed and (plus the signature) what is sent."""
    return urlencode(sorted((k, v) for k, v in params.items() if k != Q_SIG), quote_via=quote, safe="-_.~")


class LocalBlobStore:
    """Objects under `root/objects/<object_name>`, with a JSON sidecar for content type and creation time."""

    bucket = "local"

    def __init__(self, root: Path, signing_key: bytes, *, default_base_url: str = "http://127.0.0.1:8080") -> None:
        self.root = Path(root)
        self.objects = self.root / "objects"
        self.tmp = self.root / "tmp"
        self.objects.mkdir(parents=True, exist_ok=True)
        self.tmp.mkdir(parents=True, exist_ok=True)
        self._key = signing_key
        self.default_base_url = default_base_url.rstrip("/")

    # -- paths -----------------------------------------------------------------------------------------

    def _path(self, object_name: str) -> Path:
        # The name pattern admits only our own layout of plain segments (no "..", no leading "/" or "."),
        # so it cannot point outside `objects/`; no filesystem call is needed to check that.
        if not is_valid_object_name(object_name):
            raise BadInput("invalid object name")
        return self.objects / object_name

    @staticmethod
    def _meta_path(p: Path) -> Path:
        return p.with_name(p.name + ".meta.json")

    # -- signing ---------------------------------------------------------------------------------------

    def _signature(
        self,
        method: str,
        path: str,
        query: Mapping[str, str],
        headers: Mapping[str, str],
        canonical_query: str | None = None,
    ) -> str:
        signed = query.get(Q_HEADERS, "")
        names = signed.split(";") if signed else []
        canonical_headers = "".join(f"{n}:{' '.join(headers.get(n, '').split())}\n" for n in names)
        cq = _canonical_query(query) if canonical_query is None else canonical_query
        # Object names are plain [A-Za-z0-9._/-] by construction, so the path needs no percent-encoding.
        canonical_request = "\n".join([method.upper(), path, cq, canonical_headers, signed, "UNSIGNED"])
        string_to_sign = "\n".join(
            [ALGORITHM, query.get(Q_DATE, ""), hashlib.sha256(canonical_request.encode()).hexdigest()]
        )
        return hmac.new(self._key, string_to_sign.encode(), hashlib.sha256).hexdigest()

    def signed_upload(
        self,
        object_name: str,
        *,
        content_type: str,
        max_bytes: int,
        ttl_s: int,
        base_url: str | None = None,
        now: float | None = None,
    ) -> SignedUpload:
        if not is_valid_object_name(object_name):
            raise BadInput("invalid object name")
        ttl = max(1, min(int(ttl_s), MAX_TTL_S))
        issued = time.time() if now is None else now
        headers = {
            "content-type": content_type,
            LENGTH_RANGE_HEADER: f"0,{int(max_bytes)}",
            IF_GENERATION_MATCH_HEADER: "0",
        }
        path = UPLOAD_ROUTE + object_name
        query = {
            Q_ALG: ALGORITHM,
            Q_DATE: _amz_date(issued),
            Q_EXPIRES: str(ttl),
            Q_HEADERS: ";".join(SIGNED_HEADERS),
        }
        cq = _canonical_query(query)
        signature = self._signature("PUT", path, query, headers, cq)
        base = (base_url or self.default_base_url).rstrip("/")
        return SignedUpload(
            upload_url=f"{base}{path}?{cq}&{Q_SIG}={signature}",
            method="PUT",
            headers={
                "Content-Type": content_type,
                LENGTH_RANGE_HEADER: headers[LENGTH_RANGE_HEADER],
                IF_GENERATION_MATCH_HEADER: "0",
            },
            object_name=object_name,
            bucket=self.bucket,
            expires_at=datetime.fromtimestamp(int(issued) + ttl, UTC),
        )

    def verify_upload(
        self,
        method: str,
        object_name: str,
        query: Mapping[str, str],
        headers: Mapping[str, str],
        *,
        now: float | None = None,
    ) -> UploadGrant:
        """Check a request against its signature the way GCS does; raise Forbidden/LengthRequired/UploadTooLarge."""
        lower = {k.lower(): v for k, v in headers.items()}
        if query.get(Q_ALG) != ALGORITHM or not query.get(Q_SIG) or not query.get(Q_DATE):
            raise Forbidden("missing or unknown signature parameters")
        signed = query.get(Q_HEADERS, "")
        if tuple(signed.split(";")) != SIGNED_HEADERS:
            raise Forbidden("the signed headers must be " + ", ".join(SIGNED_HEADERS))
        expected = self._signature(method, UPLOAD_ROUTE + object_name, query, lower)
        if not hmac.compare_digest(expected, query.get(Q_SIG, "")):
            raise Forbidden(
                "SignatureDoesNotMatch: the request does not match the signed URL "
                "(method, path, expiry and the headers returned with the URL must be exactly as signed)"
            )
        try:
            issued, ttl = _parse_date(query[Q_DATE]), int(query[Q_EXPIRES])
        except (KeyError, ValueError):
            raise Forbidden("malformed signature date or expiry") from None
        t = time.time() if now is None else now
        if ttl < 1 or ttl > MAX_TTL_S or issued > t + CLOCK_SKEW_S:
            raise Forbidden("the signed URL's date or expiry is out of range")
        if t >= issued + ttl:
            raise Forbidden("the signed URL has expired; ask for a new one")
        if method.upper() != "PUT":  # unreachable with a valid signature (it covers the method); belt and braces
            raise Forbidden("only PUT is signed")
        lo_s, _, hi_s = lower.get(LENGTH_RANGE_HEADER, "").partition(",")
        lo, hi = int(lo_s), int(hi_s)  # signed by us, so well-formed
        if "content-length" not in lower:
            raise LengthRequired("send Content-Length; the signed URL limits the upload size")
        try:
            length = int(lower["content-length"])
        except ValueError:
            raise BadInput("Content-Length is not a number") from None
        if length > hi or length < lo:
            raise UploadTooLarge(f"EntityTooLarge: {length} bytes is outside the signed range {lo}-{hi}")
        if self._path(object_name).exists():  # checked again, atomically, when the object is linked in
            raise PreconditionFailed(_ALREADY_UPLOADED)
        return UploadGrant(object_name, lower["content-type"], lo, hi, length)

    # -- writing ---------------------------------------------------------------------------------------

    @contextlib.contextmanager
    def writer(self, grant: UploadGrant, *, create_only: bool = True) -> Iterator[IO[bytes]]:
        """A file to write the body into; it becomes the object only if the block ends without error, the
        byte count matches the verified Content-Length and (`create_only`) no object of that name exists yet."""
        target = self._path(grant.object_name)
        fd, tmp_name = tempfile.mkstemp(dir=self.tmp, prefix="up-")
        tmp = Path(tmp_name)
        meta_tmp = tmp.with_suffix(".meta")
        try:
            with os.fdopen(fd, "wb") as f:
                yield f
                f.flush()
                size = f.tell()
            if size != grant.content_length:
                raise BadInput(f"received {size} bytes but Content-Length said {grant.content_length}")
            target.parent.mkdir(parents=True, exist_ok=True)
            meta = {"content_type": grant.content_type, "created_at": time.time(), "size": size}
            meta_tmp.write_text(json.dumps(meta))
            if create_only:
                try:  # link() fails if the name exists: two racing PUTs cannot both win
                    os.link(tmp, target)
                except FileExistsError:
                    raise PreconditionFailed(_ALREADY_UPLOADED) from None
                os.replace(meta_tmp, self._meta_path(target))
            else:
                os.replace(meta_tmp, self._meta_path(target))
                os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
            meta_tmp.unlink(missing_ok=True)

    def put_bytes(self, object_name: str, data: bytes, content_type: str) -> None:
        """Write an object directly (tests, tools); the API path is verify_upload + writer."""
        grant = UploadGrant(object_name, content_type, 0, len(data), len(data))
        with self.writer(grant, create_only=False) as f:
            f.write(data)

    # -- reading ---------------------------------------------------------------------------------------

    def stat(self, object_name: str) -> BlobInfo | None:
        p = self._path(object_name)
        try:
            st = p.stat()
        except FileNotFoundError:
            return None
        try:
            meta = json.loads(self._meta_path(p).read_text())
        except (FileNotFoundError, ValueError):
            meta = {}
        return BlobInfo(
            object_name=object_name,
            size=st.st_size,
            content_type=meta.get("content_type"),
            created_at=datetime.fromtimestamp(float(meta.get("created_at", st.st_mtime)), UTC),
        )

    def read_head(self, object_name: str, n: int = 8192) -> bytes:
        try:
            with self._path(object_name).open("rb") as f:
                return f.read(n)
        except FileNotFoundError:
            raise NotFound(f"object {object_name} does not exist") from None

    def download(self, object_name: str, target: Path) -> str:
        h = hashlib.sha256()
        try:
            with self._path(object_name).open("rb") as src, target.open("wb") as dst:
                while block := src.read(1 << 20):
                    h.update(block)
                    dst.write(block)
        except FileNotFoundError:
            raise NotFound(f"object {object_name} does not exist") from None
        return h.hexdigest()

    def delete(self, object_name: str) -> None:
        p = self._path(object_name)
        p.unlink(missing_ok=True)
        self._meta_path(p).unlink(missing_ok=True)

    def ping(self) -> None:
        if not os.access(self.objects, os.W_OK):
            raise OSError(f"{self.objects} is not writable")
        shutil.disk_usage(self.objects)
