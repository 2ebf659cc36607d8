"""Typed errors that map one-to-one onto RFC 9457 problem objects.

Every bad input the core can see raises one of these, never a bare library
exception, so the CLI and the services can report it without a traceback.
"""

from __future__ import annotations

from typing import Any, ClassVar

PROBLEM_BASE = "https://synthscope.dev/problems/"


class SynthscopeError(Exception):
    slug: ClassVar[str] = "internal"
    title: ClassVar[str] = "Internal error"
    status: ClassVar[int] = 500

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail

    @property
    def type(self) -> str:
        return PROBLEM_BASE + self.slug

    def problem(self) -> dict[str, Any]:
        return {"type": self.type, "title": self.title, "status": self.status, "detail": self.detail}


class BadInput(SynthscopeError):
    """The input can never be analysed; retrying will not help."""

    slug = "bad-input"
    title = "Bad input"
    status = 400


class EmptyFile(BadInput):
    slug = "empty-file"
    title = "The file is empty"
    status = 400


class UnsupportedMediaType(BadInput):
    slug = "unsupported-media-type"
    title = "Not a supported audio format"
    status = 415


class FileTooLarge(BadInput):
    slug = "file-too-large"
    title = "The file is too large"
    status = 413


class AudioTooLong(BadInput):
    slug = "audio-too-long"
    title = "The audio is too long"
    status = 413


class UploadReplaced(BadInput):
    """The object under a reported name now holds other bytes than the ones first reported."""

    slug = "upload-replaced"
    title = "The upload was replaced"
    status = 409


class CorruptAudio(BadInput):
    slug = "corrupt-audio"
    title = "The audio could not be decoded"
    status = 422


class BundleError(SynthscopeError):
    """The model bundle is missing, corrupt or does not match this code."""

    slug = "bundle-invalid"
    title = "Model bundle invalid"
    status = 500


# --- Request errors raised by the service layer (not properties of the audio) ---------------------------


class RequestError(SynthscopeError):
    """A request the caller can fix; never retried by the queue."""

    slug = "bad-request"
    title = "Bad request"
    status = 400


class Unauthorized(RequestError):
    slug = "unauthorized"
    title = "Authentication required"
    status = 401


class Forbidden(RequestError):
    slug = "forbidden"
    title = "Forbidden"
    status = 403


class NotFound(RequestError):
    slug = "not-found"
    title = "Not found"
    status = 404


class Conflict(RequestError):
    slug = "conflict"
    title = "Conflict"
    status = 409


class Gone(RequestError):
    slug = "upload-expired"
    title = "The upload is too old"
    status = 410


class PreconditionFailed(RequestError):
    """A conditional write whose condition no longer holds (a single-use upload URL used twice)."""

    slug = "precondition-failed"
    title = "Precondition failed"
    status = 412


class LengthRequired(RequestError):
    slug = "length-required"
    title = "Content-Length required"
    status = 411


class IdempotencyKeyReused(RequestError):
    slug = "idempotency-key-reused"
    title = "Idempotency-Key reused with a different request"
    status = 422


class UploadTooLarge(RequestError):
    slug = "file-too-large"
    title = "The file is too large"
    status = 413


class InvalidSignature(RequestError):
    """A webhook whose signature, timestamp or body does not verify; nothing was changed."""

    slug = "invalid-signature"
    title = "Invalid signature"
    status = 400


class RateLimited(RequestError):
    slug = "rate-limited"
    title = "Too many requests"
    status = 429

    def __init__(self, detail: str, retry_after_s: int = 60, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.retry_after_s = retry_after_s
        self.headers = dict(headers or {})  # e.g. the quota's RateLimit-* fields


class ProcessingFailed(SynthscopeError):
    """The analysis could not finish on any attempt (the worker died, the queue gave up); not the file's fault
    as far as anyone can tell, so submitting again may work."""

    slug = "processing-failed"
    title = "Processing failed"
    status = 500


class Unavailable(SynthscopeError):
    """A dependency is down or busy; the same request may succeed later."""

    slug = "unavailable"
    title = "Service unavailable"
    status = 503

    def __init__(self, detail: str, retry_after_s: int = 5) -> None:
        super().__init__(detail)
        self.retry_after_s = retry_after_s


def problem_at(exc: SynthscopeError, instance: str) -> dict[str, Any]:
    """The RFC 9457 problem for `exc`, located at `instance` (the URL it is reported under)."""
    return {**exc.problem(), "instance": instance}
