"""What every corpus source shares: the planned `Item`, typed render specs, and the `Source` record.

A source enumerates `Item`s under a duration budget; each item carries a frozen, picklable
`RenderSpec` that knows how to turn it into mono float32 audio (it runs in worker processes).
Specs are small dataclasses, one per renderer, so dispatch is by type, never by a string key.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

HUMAN, AI = "human", "ai"
SPEECH, MUSIC = "speech", "music"


@runtime_checkable
class RenderSpec(Protocol):
    """How to produce one item's audio. Implementations are frozen dataclasses (picklable)."""

    @property
    def cost(self) -> float:
        """Compute seconds per second of audio on one core (progress ETA and scheduling only)."""
        ...

    def render(self, text: str, sr: int) -> np.ndarray:
        """Mono float32 audio at `sr`; empty when the engine produced nothing usable."""
        ...


@dataclass(frozen=True)
class Item:
    """One unit of work: renders to one recording that is later cut into ≤ 10 s clips."""

    key: str  # unique, filesystem-safe; also the resume key
    label: str  # human | ai
    kind: str  # speech | music
    source: str  # Debian / PyPI package the audio comes from
    engine: str  # 'human' or the synthesis engine / vocoder
    family: str  # leave-one-out group: AI engine family, or human source group
    speaker: str  # speaker / voice / track id (what the split is about)
    lang: str
    group: str  # split group: identical identities share one (e.g. flite kal and festival kal)
    pool: str  # split-balancing pool (sources whose speakers are split together)
    est_s: float  # rough duration estimate used for budgets and progress
    spec: RenderSpec
    text: str = ""
    twin_of: str = ""  # for vocoder twins: key of the human item

    @property
    def cost(self) -> float:
        """Estimated compute seconds (one core) to render this item."""
        return max(0.05, self.est_s * self.spec.cost)


@dataclass(frozen=True)
class PlanContext:
    """What a source's planner gets: the download cache, its budget, its RNG, and the humans so far.

    Vocoder sources derive twins from `humans` (the human items planned before them).
    """

    cache: Path
    budget_s: float
    rng: np.random.Generator
    seed: int
    humans: tuple[Item, ...] = ()


Planner = Callable[[PlanContext], list[Item]]


@dataclass(frozen=True)
class Source:
    """A registry entry: name (used by `--sources` and the budget table), label, kind and planner."""

    name: str
    label: str
    kind: str  # speech | music | speech+music
    plan: Planner
    derived: bool = False  # True for vocoder twins: planned after every non-derived source
    #: PyPI packages (import name -> distribution) the renderer needs; installed before planning.
    pip: dict[str, str] = field(default_factory=dict)


def human_item(
    key: str,
    kind: str,
    source: str,
    family: str,
    speaker: str,
    est_s: float,
    spec: RenderSpec,
    *,
    lang: str = "",
    group: str | None = None,
    pool: str | None = None,
    text: str = "",
) -> Item:
    """A human recording: engine 'human'; the split group defaults to the speaker, the pool to the family."""
    return Item(
        key=key,
        label=HUMAN,
        kind=kind,
        source=source,
        engine="human",
        family=family,
        speaker=speaker,
        lang=lang,
        group=group or speaker,
        pool=pool or family,
        est_s=est_s,
        spec=spec,
        text=text,
    )


def stable_hash(*parts: object) -> int:
    """Process-independent 64-bit hash (Python's hash() is salted per process)."""
    h = hashlib.blake2b("\x1f".join(map(str, parts)).encode(), digest_size=8)
    return int.from_bytes(h.digest(), "little")


def slug(s: str) -> str:
    """Filesystem-safe key fragment."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", s).strip("-")[:80] or "x"
