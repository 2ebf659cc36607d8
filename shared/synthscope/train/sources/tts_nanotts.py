"""SVOX Pico (py-nanotts): statistical parametric TTS, six voices in five languages, 16 kHz."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .base import AI, SPEECH, Item, PlanContext, Source, stable_hash
from .budget import Voice, tts_items
from .runtime import resample
from .text import tts_texts

NAME = "nanotts"
PIP_PACKAGES: dict[str, str] = {"py_nanotts": "py-nanotts"}
RATE = 16_000
#: (Pico voice, text language): every voice the package ships.
VOICES = (("en-US", "en"), ("en-GB", "en"), ("de-DE", "de"), ("es-ES", "es"), ("fr-FR", "fr"), ("it-IT", "it"))


@dataclass(frozen=True)
class NanoTtsSpec:
    """One sentence in one Pico voice; speed and pitch vary a little per sentence.

    At its default volume Pico clips hundreds of samples per sentence (a giveaway no human
    recording here shares); 0.4 leaves headroom in every voice.
    """

    voice: str
    speed: float = 1.0
    pitch: float = 1.0
    volume: float = 0.4
    cost: float = 0.005  # measured 0.0035 on 15 s of German, one core

    def render(self, text: str, sr: int) -> np.ndarray:
        from py_nanotts import NanoTTS

        pcm = NanoTTS().speak(text, voice=self.voice, speed=self.speed, pitch=self.pitch, volume=self.volume)
        x = np.frombuffer(pcm[: len(pcm) // 2 * 2], dtype="<i2").astype(np.float32) / 32768.0
        return resample(x, RATE, sr)


def _spec(v: Voice, text: str) -> NanoTtsSpec:
    r = np.random.default_rng(stable_hash(NAME, v.vid, text))
    return NanoTtsSpec(
        voice=v.vid, speed=round(float(r.uniform(0.85, 1.15)), 3), pitch=round(float(r.uniform(0.9, 1.1)), 3)
    )


def plan(ctx: PlanContext) -> list[Item]:
    """The budget spread evenly over the six voices, each reading random sentences of its language."""
    voices = [Voice(vid=v, group=f"voice:{NAME}:{v}", lang=lang, family=NAME) for v, lang in VOICES]
    return tts_items(NAME, "py-nanotts", voices, ctx, lambda lang: tts_texts(ctx.cache, lang), _spec)


SOURCE = Source(name=NAME, label=AI, kind=SPEECH, plan=plan, pip=PIP_PACKAGES)
