"""The engine on generated audio: results match the schema, bad input is typed, nothing crashes."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from synthscope.config import Settings
from synthscope.detect.base import Detector
from synthscope.detect.ensemble import Ensemble
from synthscope.detect.verdict import Thresholds, decide
from synthscope.engine import Engine
from synthscope.errors import AudioTooLong, CorruptAudio, EmptyFile, FileTooLarge, UnsupportedMediaType
from synthscope.reports.schema import NotApplicableReason, Verdict, WindowLabel
from tests.fixtures.audio import espeak, tone, voice_like, write_audio


def test_result_shape(engine: Engine, tmp_path: Path) -> None:
    x = np.concatenate([voice_like(7.0, np.random.default_rng(3)), espeak("Hello, this is a synthetic voice.")])
    r = engine.analyze(write_audio(tmp_path / "a.mp3", x))
    assert r.verdict in set(Verdict) - {Verdict.not_applicable}
    assert 0.0 <= r.ai_probability <= 1.0 and 0.0 <= r.confidence <= 1.0
    assert r.summary.windows == len(r.timeline) >= 3
    assert r.timeline[0].start == 0.0 and all(a.end <= b.start + 1e-6 for a, b in itertools.pairwise(r.timeline))
    everything = {"spectro_cnn", "fakeprint", "acoustic", "speech_encoder"}
    assert {d.name for d in r.detectors} == everything
    assert sum(d.weight for d in r.detectors) == pytest.approx(1.0, abs=1e-3)
    w = next(w for w in r.timeline if w.ai_probability is not None)
    assert set(w.detectors) == everything
    assert r.model.profile == "default" and set(r.model.detectors) == everything
    assert r.audio.format == "mp3" and len(r.audio.sha256) == 64
    assert r.model.sha256 == engine.bundle.sha256
    assert r.timing.total_ms >= r.timing.decode_ms


def test_fast_profile_runs_no_encoder(engine: Engine, tmp_path: Path) -> None:
    path = write_audio(tmp_path / "a.wav", voice_like(7.0, np.random.default_rng(5)))
    fast = engine.analyze(path, profile="fast")
    assert fast.model.profile == "fast"
    assert {d.name for d in fast.detectors} == {"spectro_cnn", "fakeprint", "acoustic"}
    assert all("speech_encoder" not in w.detectors for w in fast.timeline)
    default = engine.analyze(path)
    assert "speech_encoder" in {d.name for d in default.detectors}
    # the two profiles use different stackers, so their probabilities differ
    assert fast.ai_probability != default.ai_probability
    with pytest.raises(ValueError, match="unknown profile"):
        engine.analyze(path, profile="turbo")


def test_progress_reports_every_batch(engine: Engine, tmp_path: Path) -> None:
    p = write_audio(tmp_path / "a.wav", voice_like(20.0, np.random.default_rng(0)))
    seen: list[tuple[int, int | None]] = []
    engine.analyze(p, progress=lambda done, total: seen.append((done, total)))
    assert seen[-1] == (7, 7)


def test_window_and_hop_are_configurable(tiny_bundle: Path, tmp_path: Path) -> None:
    eng = Engine.load(Settings(device="cpu", window_s=2.0, hop_s=1.0), tiny_bundle)
    r = eng.analyze(write_audio(tmp_path / "a.flac", voice_like(6.0, np.random.default_rng(0))))
    assert [w.start for w in r.timeline] == [0.0, 1.0, 2.0, 3.0, 4.0]


def test_silent_file_is_not_applicable(engine: Engine, tmp_path: Path) -> None:
    r = engine.analyze(write_audio(tmp_path / "s.wav", np.zeros(16000 * 7, np.float32)))
    assert r.verdict is Verdict.not_applicable and r.reason is NotApplicableReason.silent
    assert r.ai_probability is None and all(w.label is WindowLabel.silent for w in r.timeline)


def test_noise_is_not_applicable(engine: Engine, tmp_path: Path) -> None:
    x = (0.2 * np.random.default_rng(0).standard_normal(16000 * 6)).astype(np.float32)
    r = engine.analyze(write_audio(tmp_path / "n.flac", x))
    assert r.verdict is Verdict.not_applicable and r.reason is NotApplicableReason.no_speech_or_music


def test_too_short(engine: Engine, tmp_path: Path) -> None:
    r = engine.analyze(write_audio(tmp_path / "t.wav", voice_like(0.6, np.random.default_rng(0))))
    assert r.verdict is Verdict.not_applicable and r.reason is NotApplicableReason.too_short


def test_silence_inside_speech_is_marked_not_scored(engine: Engine, tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    x = np.concatenate([voice_like(3.0, rng), np.zeros(48000, np.float32), voice_like(3.0, rng)])
    r = engine.analyze(write_audio(tmp_path / "g.wav", x))
    assert [w.label is WindowLabel.silent for w in r.timeline] == [False, True, False]
    assert r.summary.silent_windows == 1


@pytest.mark.parametrize(
    ("content", "error"),
    [(b"", EmptyFile), (b"hello world, definitely not audio\n" * 40, UnsupportedMediaType)],
)
def test_bad_files_raise_typed_errors(engine: Engine, tmp_path: Path, content: bytes, error: type) -> None:
    p = tmp_path / "x.mp3"
    p.write_bytes(content)
    with pytest.raises(error):
        engine.analyze(p)


def test_corrupt_mp3_raises_typed_error(engine: Engine, tmp_path: Path) -> None:
    good = write_audio(tmp_path / "g.mp3", voice_like(4.0, np.random.default_rng(0))).read_bytes()
    noise = np.random.default_rng(1).integers(0, 256, len(good), dtype=np.uint8).tobytes()
    p = tmp_path / "x.mp3"
    p.write_bytes(good[:600] + noise)
    with pytest.raises(CorruptAudio):
        engine.analyze(p)


def test_limits_from_settings(tiny_bundle: Path, tmp_path: Path) -> None:
    p = write_audio(tmp_path / "a.wav", tone(4.0))
    with pytest.raises(FileTooLarge):
        Engine.load(Settings(device="cpu", max_file_bytes=1000), tiny_bundle).analyze(p)
    with pytest.raises(AudioTooLong):
        Engine.load(Settings(device="cpu", max_duration_s=2.0), tiny_bundle).analyze(p)


class Broken:
    name = "spectro_cnn"
    version = "1.0"

    def predict(self, windows: np.ndarray) -> np.ndarray:
        raise RuntimeError("CUDA error: out of memory")


def test_a_failing_detector_degrades_the_ensemble(tiny_bundle: Path, tmp_path: Path) -> None:
    eng = Engine.load(Settings(device="cpu"), tiny_bundle)
    broken: Detector = Broken()
    eng.bundle.detectors["spectro_cnn"] = broken
    r = eng.analyze(write_audio(tmp_path / "a.wav", voice_like(6.0, np.random.default_rng(0))))
    assert r.degraded == ["spectro_cnn"]
    d = {x.name: x for x in r.detectors}
    assert d["spectro_cnn"].status == "failed" and "out of memory" in (d["spectro_cnn"].error or "")
    assert sum(d[n].weight for n in ("fakeprint", "acoustic", "speech_encoder")) == pytest.approx(1.0, abs=1e-3)
    assert r.ai_probability is not None
    # Exactly the stacker fitted for the two remaining detectors is used.
    w = r.timeline[0]
    expect = eng.bundle.ensemble.combine({k: np.array([v]) for k, v in w.detectors.items()})[0]
    assert w.ai_probability == pytest.approx(float(expect), abs=1e-3)


def test_ensemble_has_a_stacker_per_subset() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 400)
    scores = {n: np.clip(y * 0.6 + rng.random(400) * 0.4, 0, 1) for n in ("a", "b", "c")}
    ens = Ensemble.from_json(Ensemble.fit(scores, y).to_json())
    assert len(ens.stackers) == 7
    p = ens.combine({"a": scores["a"]})
    assert p.shape == (400,) and ((p > 0.5) == (y == 1)).mean() > 0.9


def test_verdicts() -> None:
    t = Thresholds()
    assert decide(np.array([0.9, 0.95, 0.8]), t).verdict is Verdict.ai
    assert decide(np.array([0.1, 0.05, 0.2]), t).verdict is Verdict.human
    assert decide(np.array([0.5, 0.55, 0.45]), t).verdict is Verdict.uncertain
    assert decide(np.array([0.1, 0.1, 0.1, 0.9, 0.9, 0.9]), t).verdict is Verdict.mixed
    # A single outlier window is not an edit.
    assert decide(np.array([0.1, 0.1, 0.9, 0.1, 0.1, 0.1]), t).verdict is Verdict.human


def test_strong_disagreement_between_detectors_is_uncertain() -> None:
    t = Thresholds()
    confident = np.array([0.9, 0.92, 0.88])
    assert decide(confident, t, {"a": 0.95, "b": 0.9}).verdict is Verdict.ai
    # one detector sure it is AI, another sure it is human: the ensemble's 0.9 hides a contradiction
    assert decide(confident, t, {"a": 0.97, "b": 0.1}).verdict is Verdict.uncertain
    # apart, but not on opposite sides: still a verdict
    assert decide(confident, t, {"a": 0.99, "b": 0.5}).verdict is Verdict.ai


def test_settings_refuse_default_secret_outside_local() -> None:
    with pytest.raises(ValueError, match="HMAC_SECRET"):
        Settings(environment="production")
    assert Settings(environment="production", hmac_secret="s3cret-from-secret-manager").environment == "production"
