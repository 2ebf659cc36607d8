"""`fakeprint`: the spectral-peak residue that neural upsamplers leave in 1–8 kHz.

Deconvolution/upsampling layers in vocoders imprint periodic peaks on the long-
term spectrum. Subtracting the spectrum's lower hull leaves those peaks; a
linear model on that residue separates them from natural spectra.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.numpy import load_file, save_file
from scipy.ndimage import minimum_filter1d

from synthscope.config import SAMPLE_RATE
from synthscope.detect.base import resolve_device, sigmoid, to_tensor

NAME = "fakeprint"
VERSION = "1.0"
CONSTANTS: dict[str, Any] = {
    "n_fft": 8192,
    "hop": 4096,
    "f_lo": 1000.0,
    "f_hi": 8000.0,
    "hull_size": 10,
    "hull_floor_db": -45.0,
    "residue_max": 5.0,
}
WEIGHTS = "fakeprint.safetensors"


def _band_bins() -> tuple[int, int]:
    hz_per_bin = SAMPLE_RATE / CONSTANTS["n_fft"]
    lo = int(np.ceil(CONSTANTS["f_lo"] / hz_per_bin))
    hi = int(np.floor(CONSTANTS["f_hi"] / hz_per_bin))
    return lo, hi + 1


def residue(windows: np.ndarray, device: torch.device | None = None) -> np.ndarray:
    """[B, N] audio -> [B, bins] normalised peak residue (the recipe in DESIGN §6)."""
    device = device or torch.device("cpu")
    x = to_tensor(windows, device)
    n_fft, hop = CONSTANTS["n_fft"], CONSTANTS["hop"]
    win = torch.hann_window(n_fft, device=device)
    with torch.inference_mode():
        spec = torch.stft(x, n_fft, hop, window=win, center=True, return_complex=True)
        power = spec.real.square() + spec.imag.square()
        db = 10.0 * torch.log10(power.clamp(1e-10, 1e6))
        mean_db = db.mean(dim=-1).cpu().numpy()
    lo, hi = _band_bins()
    band = mean_db[:, lo:hi]
    hull = np.maximum(minimum_filter1d(band, size=CONSTANTS["hull_size"], axis=1), CONSTANTS["hull_floor_db"])
    res = np.clip(band - hull, 0.0, CONSTANTS["residue_max"])
    return (res / (res.max(axis=1, keepdims=True) + 1e-6)).astype(np.float32)


class FakeprintDetector:
    name = NAME
    version = VERSION

    def __init__(self, mean: np.ndarray, scale: np.ndarray, coef: np.ndarray, intercept: float, device: str = "auto"):
        self.mean, self.scale, self.coef, self.intercept = mean, scale, coef, float(intercept)
        self.device = resolve_device(device)

    def predict(self, windows: np.ndarray) -> np.ndarray:
        return self.predict_features(residue(windows, self.device))

    def predict_features(self, feats: np.ndarray) -> np.ndarray:
        """P(ai) from precomputed `residue` rows (the benchmark's feature cache)."""
        z = (feats - self.mean) / self.scale
        return sigmoid(z @ self.coef + self.intercept).astype(np.float32)

    def save(self, directory: Path) -> dict[str, Any]:
        save_file(
            {
                "mean": self.mean,
                "scale": self.scale,
                "coef": self.coef,
                "intercept": np.array([self.intercept], np.float32),
            },
            str(directory / WEIGHTS),
        )
        return {"files": [WEIGHTS], "config": {"constants": CONSTANTS}}

    @classmethod
    def load(cls, directory: Path, config: dict[str, Any], device: str = "auto") -> FakeprintDetector:
        t = load_file(str(directory / WEIGHTS))
        return cls(t["mean"], t["scale"], t["coef"], float(t["intercept"][0]), device)
