"""Which windows can be judged at all: not silent, not pure noise.

Scoring a silent or white-noise window would produce a number with no meaning;
these windows are shown in the timeline but left out of the verdict.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SILENCE_DBFS = -50.0  # window RMS below this is silence (or near-digital silence)
NOISE_FLATNESS = 0.45  # mean spectral flatness above this is noise-like (white noise ≈ 0.56)


@dataclass
class Activity:
    rms_dbfs: np.ndarray  # [B]
    flatness: np.ndarray  # [B]

    @property
    def silent(self) -> np.ndarray:
        return self.rms_dbfs < SILENCE_DBFS

    @property
    def noise(self) -> np.ndarray:
        return ~self.silent & (self.flatness > NOISE_FLATNESS)

    @property
    def judgeable(self) -> np.ndarray:
        return ~self.silent & ~self.noise


def activity(windows: np.ndarray, n_fft: int = 512) -> Activity:
    # Loudness without the window's mean: a DC offset is no sound (a constant-valued file was judged, and a few
    # KB of FLAC holding one value could buy a full analysis).
    rms = np.std(windows, axis=1, dtype=np.float64)
    rms_db = 20 * np.log10(np.maximum(rms, 1e-10))
    # Flatness on non-overlapping frames: cheap, and enough to tell noise from voiced sound.
    n = windows.shape[1] // n_fft * n_fft
    frames = windows[:, :n].reshape(windows.shape[0], -1, n_fft) * np.hanning(n_fft).astype(np.float32)
    power = np.abs(np.fft.rfft(frames, axis=-1)) ** 2 + 1e-12
    flat = np.exp(np.log(power).mean(-1)) / power.mean(-1)  # [B, frames]
    loud = power.sum(-1) > power.sum(-1).max(axis=1, keepdims=True) * 1e-3
    flat_mean = (flat * loud).sum(1) / np.maximum(loud.sum(1), 1)
    return Activity(rms_dbfs=rms_db, flatness=flat_mean)
