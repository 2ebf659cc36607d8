"""Corpus sources: the registry of every allowed training-data source (notes/corpus-sources.md).

Each module exposes `SOURCE` (or `SOURCES`); adding a source is one module and one line in
`_ALL`. Data packages are fetched into a cache at planning time; each planned `Item` carries a
picklable render spec that turns it into audio in a worker process.
"""

from __future__ import annotations

from . import (
    human_music,
    human_speech,
    tts_espeak,
    tts_festival,
    tts_flite,
    tts_kokoro,
    tts_nanotts,
    tts_piper,
    vocoder_griffinlim,
    vocoder_hifigan_ts,
    vocoder_lectura,
    vocoder_world,
)
from .base import AI, HUMAN, MUSIC, SPEECH, Item, PlanContext, Source, stable_hash

_ALL: list[Source] = [
    *human_speech.SOURCES,
    *human_music.SOURCES,
    tts_espeak.SOURCE,
    tts_flite.SOURCE,
    tts_festival.SOURCE,
    tts_piper.SOURCE,
    tts_kokoro.SOURCE,
    tts_nanotts.SOURCE,
    vocoder_lectura.SOURCE,
    vocoder_hifigan_ts.SOURCE,
    vocoder_world.SOURCE,
    vocoder_griffinlim.SOURCE,
]

REGISTRY: dict[str, Source] = {s.name: s for s in _ALL}
if len(REGISTRY) != len(_ALL):
    raise RuntimeError("two corpus sources share a name")

__all__ = ["AI", "HUMAN", "MUSIC", "REGISTRY", "SPEECH", "Item", "PlanContext", "Source", "stable_hash"]
