"""Which detectors the benchmark knows: one line each (extractor factory, head factory).

Adding a detector (e.g. a speech-encoder extractor and its head) is one `REGISTRY` line;
the cache, the folds and the reports pick it up by name.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from synthscope.train.benchmark.extractors import (
    AcousticExtractor,
    Extractor,
    FakeprintExtractor,
    SpectrogramExtractor,
    SpeechEncoderExtractor,
)
from synthscope.train.benchmark.heads import (
    AcousticHead,
    Budget,
    EncoderHeadTorch,
    FakeprintHead,
    Head,
    SpectroCNNHead,
)


@dataclass(frozen=True)
class DetectorSpec:
    """How to build a detector's extractor (in any worker process) and its unfitted head (given the budget)."""

    extractor: Callable[[], Extractor]
    head: Callable[[Budget], Head]


REGISTRY: dict[str, DetectorSpec] = {
    "fakeprint": DetectorSpec(FakeprintExtractor, FakeprintHead),
    "acoustic": DetectorSpec(AcousticExtractor, AcousticHead),
    "spectro_cnn": DetectorSpec(SpectrogramExtractor, SpectroCNNHead),
    "speech_encoder": DetectorSpec(SpeechEncoderExtractor, EncoderHeadTorch),
}


def select(names: list[str] | None, registry: dict[str, DetectorSpec] | None = None) -> dict[str, DetectorSpec]:
    """The named subset of the registry, in the order given (all when `names` is empty)."""
    reg = REGISTRY if registry is None else registry
    if not names:
        return dict(reg)
    unknown = [n for n in names if n not in reg]
    if unknown:
        raise ValueError(f"unknown detectors {unknown}; known: {sorted(reg)}")
    return {n: reg[n] for n in names}
