"""Regression tests for issue 12's holes 4 and 5: malformed audio is a typed 422 at once, never a 500 or a
transient retry; non-finite or absurd samples, and files most detectors fail on, never get a confident verdict.

Each test reproduced its hole on the code before the fix (AttributeError / ValueError escaping the decoder; a
confident verdict on 1e38 samples; a lone surviving detector's call).
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from synthscope.audio.decode import decode_all
from synthscope.config import Settings
from synthscope.detect.base import Detector
from synthscope.engine import Engine
from synthscope.errors import CorruptAudio
from synthscope.reports.schema import NotApplicableReason, Verdict
from tests.fixtures.audio import voice_like, write_audio


def _wav(path: Path, payload: bytes, tag: int, bits: int, rate: int = 16000) -> Path:
    block = bits // 8
    fmt = struct.pack("<HHIIHH", tag, 1, rate, rate * block, block, bits)
    head = b"RIFF" + struct.pack("<I", 36 + len(payload)) + b"WAVEfmt " + struct.pack("<I", 16) + fmt
    path.write_bytes(head + b"data" + struct.pack("<I", len(payload)) + payload)
    return path


def test_unknown_wav_format_tag_is_corrupt_audio(tmp_path: Path) -> None:
    pcm = (voice_like(3.0, np.random.default_rng(0)) * 32767).astype("<i2").tobytes()
    path = _wav(tmp_path / "tag.wav", pcm, tag=0x1234, bits=16)
    with pytest.raises(CorruptAudio, match="codec"):  # was AttributeError: codec_context is None
        decode_all(path)


def test_a_layout_change_mid_stream_decodes(tmp_path: Path) -> None:
    mono = write_audio(tmp_path / "m.mp3", voice_like(3.0, np.random.default_rng(1)))
    stereo = write_audio(tmp_path / "s.mp3", voice_like(3.0, np.random.default_rng(2)), channels=2)
    joined = tmp_path / "joined.mp3"
    joined.write_bytes(mono.read_bytes() + stereo.read_bytes())
    x = decode_all(joined)  # was ValueError: Frame does not match AudioResampler setup
    assert x.shape[0] > 5.5 * 16000 and np.isfinite(x).all()


@pytest.mark.parametrize("value", [1e38, np.nan, np.inf])
def test_non_finite_or_absurd_samples_are_not_applicable(engine: Engine, tmp_path: Path, value: float) -> None:
    path = _wav(tmp_path / "bad.wav", np.full(3 * 16000, value, np.float32).tobytes(), tag=3, bits=32)
    x = decode_all(path)
    assert np.isfinite(x).all() and np.abs(x).max() <= 1.0
    r = engine.analyze(path)
    assert r.verdict is Verdict.not_applicable and r.reason is NotApplicableReason.invalid_samples


def test_a_hot_but_real_float_file_is_still_judged(engine: Engine, tmp_path: Path) -> None:
    x = 1.5 * voice_like(6.0, np.random.default_rng(3))  # over full scale, as float masters can be
    path = _wav(tmp_path / "hot.wav", x.astype("<f4").tobytes(), tag=3, bits=32)
    assert engine.analyze(path).verdict is not Verdict.not_applicable


class _Broken:
    version = "0"

    def __init__(self, name: str) -> None:
        self.name = name

    def predict(self, windows: np.ndarray) -> np.ndarray:
        raise RuntimeError("CUDA error: out of memory")


def test_a_lone_surviving_detector_gives_no_confident_verdict(tiny_bundle: Path, tmp_path: Path) -> None:
    eng = Engine.load(Settings(device="cpu"), tiny_bundle)
    for name in ("spectro_cnn", "acoustic", "speech_encoder"):
        broken: Detector = _Broken(name)
        eng.bundle.detectors[name] = broken
    r = eng.analyze(write_audio(tmp_path / "a.wav", voice_like(6.0, np.random.default_rng(0))))
    assert r.verdict is Verdict.uncertain and r.confidence == 0.0
    assert sorted(r.degraded) == ["acoustic", "spectro_cnn", "speech_encoder"]
    assert any("3 of 4 detectors failed" in e for e in r.explanation)


def test_a_wav_claiming_an_absurd_sample_rate_is_corrupt_before_any_resampling(tmp_path: Path) -> None:
    """Found by `make fuzz`: a 96 KB WAV claiming 2 Hz (block align 0x7fff) made the resampler multiply its frames
    8000-fold, and the process's peak memory rose by 3.5 GB before the duration limit stopped it."""
    pcm = (voice_like(3.0, np.random.default_rng(4)) * 32767).astype("<i2").tobytes()
    path = _wav(tmp_path / "two-hertz.wav", pcm, tag=1, bits=16, rate=2)
    with pytest.raises(CorruptAudio, match="sample rate of 2 Hz"):
        decode_all(path, max_duration_s=600)
