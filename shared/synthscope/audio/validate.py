"""Cheap checks before decoding: size and magic bytes.

Sniffing the content (not trusting the name or the client's MIME type) is what
keeps a renamed executable or text file from ever reaching the decoder.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import magic

from synthscope.errors import EmptyFile, FileTooLarge, UnsupportedMediaType

SNIFF_BYTES = 8192

#: MIME type as libmagic reports it -> short format name used in reports.
AUDIO_MIME: dict[str, str] = {
    "audio/mpeg": "mp3",
    "audio/mp3": "mp3",
    "audio/x-mp3": "mp3",
    "audio/wav": "wav",
    "audio/x-wav": "wav",
    "audio/vnd.wave": "wav",
    "audio/flac": "flac",
    "audio/x-flac": "flac",
    "audio/ogg": "ogg",
    "audio/x-ogg": "ogg",
    "application/ogg": "ogg",
    "audio/opus": "opus",
    "audio/mp4": "m4a",
    "audio/x-m4a": "m4a",
    "video/mp4": "m4a",
    "audio/aac": "aac",
    "audio/x-hx-aac-adts": "aac",
    "audio/webm": "webm",
    "video/webm": "webm",
}

#: File extensions accepted for upload, with the formats they may contain.
EXTENSION_FORMATS: dict[str, set[str]] = {
    ".mp3": {"mp3"},
    ".wav": {"wav"},
    ".flac": {"flac"},
    ".ogg": {"ogg", "opus"},
    ".oga": {"ogg", "opus"},
    ".opus": {"ogg", "opus"},
    ".m4a": {"m4a", "aac"},
    ".mp4": {"m4a"},
    ".aac": {"aac", "m4a"},
    ".webm": {"webm"},
}


@dataclass(frozen=True)
class Sniffed:
    mime: str
    format: str


def sniff_bytes(head: bytes) -> Sniffed:
    """Identify the container from its first bytes; raise for anything that is not audio."""
    if not head:
        raise EmptyFile("the file has no content")
    mime = magic.from_buffer(head[:SNIFF_BYTES], mime=True)
    fmt = AUDIO_MIME.get(mime)
    if fmt is None and head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        fmt = "wav"
    if fmt is None and _looks_like_mpeg_audio(head):
        fmt, mime = "mp3", "audio/mpeg"
    if fmt is None:
        raise UnsupportedMediaType(f"content is {mime}, not a supported audio format")
    return Sniffed(mime=mime, format=fmt)


def _looks_like_mpeg_audio(head: bytes) -> bool:
    # libmagic misses some headerless MP3s; an MPEG audio frame sync at offset 0 is enough to try.
    return len(head) >= 4 and head[0] == 0xFF and (head[1] & 0xE0) == 0xE0 and (head[1] & 0x06) != 0


def check_file(path: Path, *, max_bytes: int) -> Sniffed:
    """Size and content checks for a file on disk."""
    size = path.stat().st_size
    if size == 0:
        raise EmptyFile(f"{path.name} is empty")
    if size > max_bytes:
        raise FileTooLarge(f"{path.name} is {size} bytes; the limit is {max_bytes}")
    with path.open("rb") as f:
        return sniff_bytes(f.read(SNIFF_BYTES))


def check_extension(file_name: str, sniffed_format: str | None = None) -> str:
    """The lower-cased extension if it is an accepted audio one (and agrees with the content)."""
    ext = Path(file_name).suffix.lower()
    allowed = EXTENSION_FORMATS.get(ext)
    if allowed is None:
        raise UnsupportedMediaType(
            f"extension {ext or '(none)'!r} is not accepted; use one of {', '.join(sorted(EXTENSION_FORMATS))}"
        )
    if sniffed_format is not None and sniffed_format not in allowed:
        raise UnsupportedMediaType(f"the name says {ext} but the content is {sniffed_format}")
    return ext
