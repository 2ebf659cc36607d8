"""flite (diphone + clustergen): five built-in English voices."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import numpy as np

from .base import AI, SPEECH, Item, PlanContext, Source
from .budget import Voice, tts_items
from .cli import run_to_file
from .fetch import ensure_apt
from .runtime import resample
from .text import tts_texts

# kal and kal16 are one speaker, who is also festival's kal_diphone: one split group
VOICES = tuple(
    Voice(v, f"voice:{g}", "en", "flite")
    for v, g in [("kal", "kal"), ("kal16", "kal"), ("awb", "awb"), ("rms", "rms"), ("slt", "slt")]
)


@dataclass(frozen=True)
class FliteSpec:
    """One flite call with a built-in voice."""

    voice: str
    cost: float = 0.02  # measured 0.013-0.03 s/s

    def render(self, text: str, sr: int) -> np.ndarray:
        """Synthesize into a temporary WAV and resample."""
        x, sr_in = run_to_file(lambda d: ["flite", "-voice", self.voice, "-t", text, "-o", str(d / "o.wav")])
        return resample(x, sr_in, sr)


def plan(ctx: PlanContext) -> list[Item]:
    """Budget spread evenly over the voices."""
    ensure_apt(["flite"])
    return tts_items("flite", "flite", VOICES, ctx, partial(tts_texts, ctx.cache), lambda v, t: FliteSpec(v.vid))


SOURCE = Source("flite", AI, SPEECH, plan)
