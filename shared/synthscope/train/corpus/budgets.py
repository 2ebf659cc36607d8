"""Per-source duration budgets of corpus v2: the one table to edit when the corpus mix changes.

Minutes of rendered audio per source at `--scale 1` (before trimming); `ALL` means every file the
source has. Humans are used whole (≈ 6.7 h of speech, ≈ 170 min of music); AI speech is sized to
match human speech in minutes with most of it neural (Kokoro, Piper and the two HiFi-GANs), the
formant / diphone / statistical engines kept to a small share because they are easy and inflate
accuracy (corpus-sources.md). Vocoder budgets cover speech and music twins together.

Compute cost on one core per audio second (measured on these 2-core machines, one thread each) is
what limits the AI budgets: Kokoro 0.3–0.55, hifigan-ts 0.29, lectura 0.1, festival 0.05–0.1, WORLD
0.035–0.15, Piper 0.05, the rest ≤ 0.04, plus ≈ 0.02 for the debiasing chain on every clip.
"""

from __future__ import annotations

import math

ALL = math.inf

BUDGET_MINUTES: dict[str, float] = {
    # human speech (unique recordings, all of them)
    "asterisk": ALL,
    "fillets-cs": ALL,
    "fillets-nl": ALL,
    "klettres": ALL,
    "hedgewars-voices": ALL,
    # human music (all of it)
    "hedgewars-music": ALL,
    "fretsonfire": ALL,
    "fillets-music": ALL,
    "asterisk-moh": ALL,
    # neural TTS
    "kokoro": 60.0,
    "piper": 50.0,
    # formant / diphone / HTS / statistical TTS: a small share
    "espeak-ng": 12.0,
    "flite": 12.0,
    "festival": 24.0,
    "nanotts": 12.0,
    # re-synthesis twins of human clips (speech + music), two neural vocoders and two classical ones
    "hifigan-lectura": 130.0,
    "hifigan-ts": 50.0,
    "world": 55.0,
    "griffinlim": 30.0,
}


def budget_seconds(name: str, scale: float) -> float:
    """Budget of one source in seconds; unbounded sources stay unbounded at any scale."""
    minutes = BUDGET_MINUTES[name]
    return minutes if math.isinf(minutes) else minutes * 60.0 * scale
