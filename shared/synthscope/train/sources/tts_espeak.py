"""espeak-ng (formant synthesis): many languages, random speed and pitch per sentence."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import numpy as np

from .base import AI, SPEECH, Item, PlanContext, Source, stable_hash
from .budget import Voice, tts_items
from .cli import run_to_stdout
from .fetch import ensure_apt
from .runtime import resample
from .text import tts_texts

# (espeak voice, text language)
_TABLE = [
    ("en-us", "en"),
    ("en-us+f3", "en"),
    ("en-gb+m3", "en"),
    ("en-us+f4", "en"),
    ("cs", "cs"),
    ("cs+f2", "cs"),
    ("nl", "nl"),
    ("nl+m4", "nl"),
    ("de", "de"),
    ("de+f3", "de"),
    ("fr", "fr"),
    ("fr+f2", "fr"),
    ("it", "it"),
    ("es", "es"),
    ("es+f3", "es"),
    ("ru", "ru"),
    ("ru+m2", "ru"),
    ("pl", "pl"),
]
VOICES = tuple(Voice(v, f"voice:{v}", lang, "espeak") for v, lang in _TABLE)


@dataclass(frozen=True)
class EspeakSpec:
    """One espeak-ng call (words per minute, pitch 0-99)."""

    voice: str
    speed: int
    pitch: int
    cost: float = 0.01  # measured ≈ 0.005 s/s + process start

    def render(self, text: str, sr: int) -> np.ndarray:
        """Synthesize; the text goes on stdin so a leading '-' is never read as an option."""
        argv = ["espeak-ng", "-v", self.voice, "-s", str(self.speed), "-p", str(self.pitch), "--stdout"]
        x, sr_in = run_to_stdout(argv, text.encode("utf-8"))
        return resample(x, sr_in, sr)


def _spec(v: Voice, text: str) -> EspeakSpec:
    r = np.random.default_rng(stable_hash("espeak", v.vid, text))
    return EspeakSpec(v.vid, int(r.integers(140, 190)), int(r.integers(35, 65)))


def plan(ctx: PlanContext) -> list[Item]:
    """Budget spread evenly over the voices."""
    ensure_apt(["espeak-ng"])
    return tts_items("espeak-ng", "espeak-ng", VOICES, ctx, partial(tts_texts, ctx.cache), _spec)


SOURCE = Source("espeak-ng", AI, SPEECH, plan)
