"""Upload naming and admission rules: what a client may upload, and where it lands.

Names from clients are hostile until proven otherwise: only a sanitised basename
survives, inside a unique object name under the caller's own prefix, so two
callers can never address each other's objects.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
import unicodedata
from pathlib import PurePosixPath

from synthscope.audio.validate import EXTENSION_FORMATS, check_extension
from synthscope.errors import BadInput, UnsupportedMediaType

UPLOAD_PREFIX = "uploads"

#: MIME types a browser or client may declare per extension (what `file.type` says in browsers).
EXTENSION_MIMES: dict[str, frozenset[str]] = {
    ".mp3": frozenset({"audio/mpeg", "audio/mp3", "audio/x-mp3", "audio/mpeg3", "audio/x-mpeg-3"}),
    ".wav": frozenset({"audio/wav", "audio/x-wav", "audio/wave", "audio/vnd.wave"}),
    ".flac": frozenset({"audio/flac", "audio/x-flac"}),
    ".ogg": frozenset({"audio/ogg", "application/ogg", "audio/x-ogg", "audio/opus"}),
    ".oga": frozenset({"audio/ogg", "application/ogg"}),
    ".opus": frozenset({"audio/opus", "audio/ogg"}),
    ".m4a": frozenset({"audio/mp4", "audio/x-m4a", "audio/m4a", "audio/aac"}),
    ".mp4": frozenset({"audio/mp4", "video/mp4"}),
    ".aac": frozenset({"audio/aac", "audio/x-aac", "audio/aacp"}),
    ".webm": frozenset({"audio/webm", "video/webm"}),
}
assert set(EXTENSION_MIMES) == set(EXTENSION_FORMATS), "every accepted extension needs its MIME types"

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
#: What an object name may look like: our own prefix layout, nothing a path could escape from.
OBJECT_NAME_RE = re.compile(r"^uploads/[a-f0-9]{24}/[0-9]{8}/[A-Za-z0-9_-]{16,32}/[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
MAX_NAME_CHARS = 100


def sanitize_file_name(file_name: str) -> str:
    """A safe basename that keeps the (lower-cased) extension: no paths, controls, or leading dots."""
    base = file_name.replace("\\", "/").rsplit("/", 1)[-1]
    base = unicodedata.normalize("NFKD", base).encode("ascii", "ignore").decode("ascii")
    stem, dot, ext = base.rpartition(".")
    if not dot:
        stem, ext = base, ""
    stem = _UNSAFE.sub("_", stem).strip("._-")[: MAX_NAME_CHARS - 8] or "audio"
    ext = _UNSAFE.sub("", ext).lower()[:6]
    return f"{stem}.{ext}" if ext else stem


def normalize_mime(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


def admit(file_name: str, file_type: str) -> tuple[str, str]:
    """(sanitised name, normalised MIME) when the extension is accepted and the MIME type fits it."""
    if not file_name or len(file_name) > 1024:
        raise BadInput("file_name must be 1-1024 characters")
    safe = sanitize_file_name(file_name)
    ext = check_extension(safe)
    mime = normalize_mime(file_type)
    if mime not in EXTENSION_MIMES[ext]:
        raise UnsupportedMediaType(
            f"file_type {file_type!r} does not match {ext}; expected one of {', '.join(sorted(EXTENSION_MIMES[ext]))}"
        )
    return safe, mime


def owner_prefix(sub: str) -> str:
    """The caller's folder: a hash of the token subject, so a name never reveals or depends on it."""
    return f"{UPLOAD_PREFIX}/{hashlib.sha256(sub.encode()).hexdigest()[:24]}/"


def new_object_name(sub: str, safe_name: str, *, now: float | None = None) -> str:
    day = time.strftime("%Y%m%d", time.gmtime(now if now is not None else time.time()))
    name = f"{owner_prefix(sub)}{day}/{secrets.token_urlsafe(18)}/{safe_name}"
    if not OBJECT_NAME_RE.match(name):  # the sanitiser makes this impossible; keep the invariant checked
        raise BadInput("could not form a safe object name")
    return name


def is_valid_object_name(name: str) -> bool:
    return bool(OBJECT_NAME_RE.match(name)) and ".." not in PurePosixPath(name).parts


def owns(sub: str, object_name: str) -> bool:
    return is_valid_object_name(object_name) and object_name.startswith(owner_prefix(sub))
