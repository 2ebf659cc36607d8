"""Griffin-Lim twins (librosa): phase rebuilt from the STFT magnitude, the crudest "vocoder"."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from .base import Item, stable_hash
from .twins import TwinSpec, twin_source

NAME = "griffinlim"
PIP_PACKAGES: dict[str, str] = {}  # librosa is a core dependency
N_FFTS = (512, 1024)
N_ITERS = (16, 32, 64)
#: Compute s per audio s on one core per iteration, measured on ~10 s of speech.
COST_PER_ITER = 0.00065  # 0.011 at 16 iterations, 0.042 at 64 (either n_fft)


@dataclass(frozen=True)
class GriffinLimSpec(TwinSpec):
    """Griffin-Lim at 16 kHz with hop n_fft/4; fewer iterations leave more phasiness."""

    n_fft: int = 1024
    n_iter: int = 32
    cost: float = COST_PER_ITER * 32

    rate: ClassVar[int] = 16_000

    def vocode(self, y: np.ndarray) -> np.ndarray:
        import librosa

        hop = self.n_fft // 4
        mag = np.abs(librosa.stft(y, n_fft=self.n_fft, hop_length=hop))
        rng = np.random.default_rng(stable_hash(NAME, y.size))  # deterministic initial phase
        out = librosa.griffinlim(
            mag, n_iter=self.n_iter, hop_length=hop, n_fft=self.n_fft, length=y.size, random_state=rng
        )
        return np.asarray(out, np.float32)


def _spec(h: Item) -> GriffinLimSpec:
    r = stable_hash(NAME, "settings", h.key)
    n_iter = N_ITERS[(r // len(N_FFTS)) % len(N_ITERS)]
    return GriffinLimSpec(human=h.spec, n_fft=N_FFTS[r % len(N_FFTS)], n_iter=n_iter, cost=COST_PER_ITER * n_iter)


SOURCE = twin_source(NAME, "librosa", _spec, PIP_PACKAGES)
