"""The audio front end: sniffing, decoding every container, windows, and each kind of bad input."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

from synthscope.audio.decode import AudioStream, decode_all
from synthscope.audio.gate import activity
from synthscope.audio.validate import check_extension, check_file, sniff_bytes
from synthscope.audio.windows import iter_batches, iter_windows, window_count
from synthscope.errors import AudioTooLong, CorruptAudio, EmptyFile, FileTooLarge, UnsupportedMediaType
from tests.fixtures.audio import tone, voice_like, write_audio

FORMATS = [".wav", ".mp3", ".flac", ".ogg", ".m4a", ".webm"]


@pytest.mark.parametrize("suffix", FORMATS)
def test_every_container_decodes_to_16k_mono(tmp_path: Path, suffix: str) -> None:
    x = voice_like(4.0, np.random.default_rng(1), sr=44100)
    path = write_audio(tmp_path / f"a{suffix}", x, sr=44100, channels=2)
    sniffed = check_file(path, max_bytes=10**8)
    assert check_extension(path.name, sniffed.format) == suffix
    y = decode_all(path)
    assert y.dtype == np.float32 and y.ndim == 1
    assert abs(len(y) / 16000 - 4.0) < 0.15  # codec priming may add a few ms
    assert 0.05 < np.abs(y).max() <= 1.01


def test_empty_file(tmp_path: Path) -> None:
    p = tmp_path / "empty.mp3"
    p.write_bytes(b"")
    with pytest.raises(EmptyFile):
        check_file(p, max_bytes=100)


def test_non_audio_named_mp3(tmp_path: Path) -> None:
    p = tmp_path / "evil.mp3"
    p.write_bytes(b"#!/bin/sh\necho pwned\n" * 50)
    with pytest.raises(UnsupportedMediaType):
        check_file(p, max_bytes=10**6)
    png = b"\x89PNG\r\n\x1a\n" + bytes(200)
    with pytest.raises(UnsupportedMediaType):
        sniff_bytes(png)


def test_too_large(tmp_path: Path) -> None:
    p = write_audio(tmp_path / "a.wav", tone(2.0))
    with pytest.raises(FileTooLarge):
        check_file(p, max_bytes=1000)


def test_extension_must_be_audio_and_agree() -> None:
    with pytest.raises(UnsupportedMediaType):
        check_extension("payload.exe")
    with pytest.raises(UnsupportedMediaType):
        check_extension("song.mp3", "flac")
    assert check_extension("Ünïcode name; rm -rf.OGG", "opus") == ".ogg"


def test_corrupt_bytes_after_a_valid_header(tmp_path: Path) -> None:
    good = write_audio(tmp_path / "a.mp3", voice_like(3.0, np.random.default_rng(0))).read_bytes()
    rng = np.random.default_rng(0)
    bad = good[:64] + rng.integers(0, 256, len(good) - 64, dtype=np.uint8).tobytes()
    with pytest.raises(CorruptAudio):
        decode_all(io.BytesIO(bad))


def test_garbage_is_corrupt_not_a_traceback() -> None:
    with pytest.raises(CorruptAudio):
        decode_all(io.BytesIO(b"RIFF\x00\x00\x00\x00WAVEfmt " + bytes(10)))


def test_truncated_file_decodes_what_is_there(tmp_path: Path) -> None:
    data = write_audio(tmp_path / "a.flac", voice_like(6.0, np.random.default_rng(0))).read_bytes()
    y = decode_all(io.BytesIO(data[: len(data) // 2]))
    assert 1.0 < len(y) / 16000 < 4.5


def test_too_long_is_refused_while_streaming(tmp_path: Path) -> None:
    p = write_audio(tmp_path / "a.wav", tone(5.0))
    with pytest.raises(AudioTooLong), AudioStream(p, max_duration_s=2.0) as s:
        for _ in s:
            pass


@pytest.mark.parametrize(
    ("dur", "hop", "expected"),
    [(0.5, 3.0, 0), (2.0, 3.0, 1), (9.0, 3.0, 3), (10.0, 3.0, 4), (6.0, 1.5, 3), (10.0, 1.5, 6)],
)
def test_window_count_matches_iterator(dur: float, hop: float, expected: int) -> None:
    x = np.ones(int(dur * 16000), np.float32)
    chunks = [x[i : i + 1152] for i in range(0, len(x), 1152)]
    wins = list(iter_windows(chunks, window_s=3.0, hop_s=hop))
    assert len(wins) == expected == window_count(dur, 3.0, hop)
    assert all(w.shape == (48000,) for _, _, w in wins)
    if wins:
        assert wins[-1][1] == pytest.approx(min(dur, wins[-1][0] + 3.0))


def test_batches_cover_windows_in_order() -> None:
    x = np.arange(16000 * 20, dtype=np.float32)
    batches = list(iter_batches([x[:70000], x[70000:]], window_s=3.0, hop_s=3.0, batch_size=4))
    assert [len(b) for b in batches] == [4, 3]  # six full windows and the 2-s tail
    starts = np.concatenate([b.starts for b in batches])
    assert starts.tolist() == [0.0, 3.0, 6.0, 9.0, 12.0, 15.0, 18.0]
    assert batches[1].samples[1, 0] == 15 * 16000
    assert batches[1].ends[-1] == 20.0


def test_gate_tells_silence_noise_and_sound_apart() -> None:
    rng = np.random.default_rng(0)
    wins = np.stack(
        [np.zeros(48000, np.float32), (0.2 * rng.standard_normal(48000)).astype(np.float32), voice_like(3.0, rng)]
    )
    act = activity(wins)
    assert act.silent.tolist() == [True, False, False]
    assert act.noise.tolist() == [False, True, False]
    assert act.judgeable.tolist() == [False, False, True]
