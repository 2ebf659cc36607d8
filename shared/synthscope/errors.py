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


class CorruptAudio(BadInput):
    slug = "corrupt-audio"
    title = "The audio could not be decoded"
    status = 422


class BundleError(SynthscopeError):
    """The model bundle is missing, corrupt or does not match this code."""

    slug = "bundle-invalid"
    title = "Model bundle invalid"
    status = 500
