"""WORLD twins (pyworld): the classical analysis/synthesis vocoder behind many statistical TTS systems."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from .base import Item, stable_hash
from .twins import TwinSpec, twin_source

NAME = "world"
PIP_PACKAGES: dict[str, str] = {"pyworld": "pyworld-prebuilt"}
#: Compute s per audio s on one core, measured on ~10 s of speech; harvest is the better, slower tracker.
COST = {"dio": 0.035, "harvest": 0.145}
HARVEST_SHARE = 0.25


@dataclass(frozen=True)
class WorldSpec(TwinSpec):
    """F0 (dio + stonemask, or harvest), CheapTrick envelope, D4C aperiodicity, resynthesis at 16 kHz."""

    f0: str = "dio"
    cost: float = COST["dio"]

    rate: ClassVar[int] = 16_000

    def vocode(self, y: np.ndarray) -> np.ndarray:
        import pyworld

        x = np.ascontiguousarray(y, dtype=np.float64)
        if self.f0 == "harvest":
            f0, t = pyworld.harvest(x, self.rate)
        else:
            f0, t = pyworld.dio(x, self.rate)
            f0 = pyworld.stonemask(x, f0, t, self.rate)
        sp = pyworld.cheaptrick(x, f0, t, self.rate)
        ap = pyworld.d4c(x, f0, t, self.rate)
        out = pyworld.synthesize(f0, sp, ap, self.rate)
        return np.asarray(out[: x.size], np.float32)


def _spec(h: Item) -> WorldSpec:
    method = "harvest" if stable_hash(NAME, "f0", h.key) % 1000 < HARVEST_SHARE * 1000 else "dio"
    return WorldSpec(human=h.spec, f0=method, cost=COST[method])


SOURCE = twin_source(NAME, "pyworld-prebuilt", _spec, PIP_PACKAGES)
