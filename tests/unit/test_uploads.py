"""Upload admission: hostile names, MIME/extension agreement, per-caller prefixes."""

from __future__ import annotations

import pytest

from synthscope.errors import BadInput, UnsupportedMediaType
from synthscope.uploads import admit, is_valid_object_name, new_object_name, owns, sanitize_file_name


@pytest.mark.parametrize(
    ("raw", "safe"),
    [
        ("song.mp3", "song.mp3"),
        ("../../etc/passwd.mp3", "passwd.mp3"),
        ("C:\\Users\\x\\talk.WAV", "talk.wav"),
        ("..hidden.ogg", "hidden.ogg"),
        ("naïve café.flac", "naive_cafe.flac"),
        ("a\x00b\r\n.mp3", "a_b.mp3"),
        ("<script>.m4a", "script.m4a"),
        ("录音.mp3", "audio.mp3"),
        ("x" * 500 + ".mp3", "x" * 92 + ".mp3"),
    ],
)
def test_sanitize(raw: str, safe: str) -> None:
    assert sanitize_file_name(raw) == safe


def test_admit_checks_extension_and_mime() -> None:
    assert admit("Talk.MP3", "audio/mpeg; charset=binary") == ("Talk.mp3", "audio/mpeg")
    with pytest.raises(UnsupportedMediaType):
        admit("talk.mp3", "audio/wav")
    with pytest.raises(UnsupportedMediaType):
        admit("notes.txt", "text/plain")
    with pytest.raises(UnsupportedMediaType):
        admit("song", "audio/mpeg")
    with pytest.raises(BadInput):
        admit("", "audio/mpeg")


def test_object_names_are_unique_and_scoped_to_the_caller() -> None:
    a1, a2 = new_object_name("anon:a", "x.mp3"), new_object_name("anon:a", "x.mp3")
    b = new_object_name("user:b", "x.mp3")
    assert a1 != a2 and all(is_valid_object_name(n) for n in (a1, a2, b))
    assert owns("anon:a", a1) and owns("anon:a", a2) and not owns("anon:a", b) and owns("user:b", b)
    assert not owns("anon:a", a1.replace("x.mp3", "../x.mp3"))
