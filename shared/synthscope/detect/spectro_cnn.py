"""`spectro_cnn`: a small CNN on log-power spectrogram windows.

Log-linear spectra keep the fine high-frequency structure that mel scales blur,
which is where vocoder artefacts live. The net is kept small (≈40 M MACs per
3-s window) so the ensemble runs far faster than realtime on two CPU cores.
Training lives in `train/detectors.py`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from synthscope.detect.base import resolve_device, to_tensor

NAME = "spectro_cnn"
VERSION = "1.1"
CONSTANTS: dict[str, Any] = {"n_fft": 512, "hop": 256, "log_floor": 1e-10}
WEIGHTS = "spectro_cnn.safetensors"


def log_spectrogram(x: torch.Tensor) -> torch.Tensor:
    """[B, N] -> [B, 1, F, T], per-window standardised log power (level carries no signal)."""
    n_fft, hop = CONSTANTS["n_fft"], CONSTANTS["hop"]
    win = torch.hann_window(n_fft, device=x.device)
    spec = torch.stft(x, n_fft, hop, window=win, center=True, return_complex=True)
    logp = torch.log10(spec.real.square() + spec.imag.square() + CONSTANTS["log_floor"])
    mu = logp.mean(dim=(1, 2), keepdim=True)
    sd = logp.std(dim=(1, 2), keepdim=True).clamp_min(1e-3)
    return ((logp - mu) / sd).unsqueeze(1)


def spec_augment(spec: torch.Tensor, max_f: int = 24, max_t: int = 24) -> torch.Tensor:
    """SpecAugment-style masks (one frequency band, one time span per window) so the net cannot lean
    on any single band — the band a codec or a new vocoder happens to change."""
    b, _, n_f, n_t = spec.shape
    dev = spec.device
    f0 = torch.randint(0, n_f, (b, 1, 1, 1), device=dev)
    fw = torch.randint(0, max_f + 1, (b, 1, 1, 1), device=dev)
    t0 = torch.randint(0, n_t, (b, 1, 1, 1), device=dev)
    tw = torch.randint(0, max_t + 1, (b, 1, 1, 1), device=dev)
    fi = torch.arange(n_f, device=dev).view(1, 1, -1, 1)
    ti = torch.arange(n_t, device=dev).view(1, 1, 1, -1)
    mask = ((fi >= f0) & (fi < f0 + fw)) | ((ti >= t0) & (ti < t0 + tw))
    return spec.masked_fill(mask, 0.0)


def _block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU())


class SpectroNet(nn.Module):
    def __init__(self, width: int = 16, n_freq: int = CONSTANTS["n_fft"] // 2 + 1) -> None:
        super().__init__()
        self.features = nn.Sequential(
            _block(1, width), _block(width, 2 * width), _block(2 * width, 4 * width), _block(4 * width, 4 * width)
        )
        f = n_freq
        for _ in range(4):
            f = (f - 1) // 2 + 1
        # Keep the frequency axis (artefacts are frequency-specific), pool over time (length-agnostic).
        self.head = nn.Sequential(nn.Dropout(0.3), nn.Linear(2 * 4 * width * f, 64), nn.ReLU(), nn.Linear(64, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_spectrogram(log_spectrogram(x))

    def forward_spectrogram(self, spec: torch.Tensor) -> torch.Tensor:
        """Logits from `log_spectrogram` output [B, 1, F, T], so cached spectrograms skip the STFT."""
        if self.training:
            spec = spec_augment(spec)
        h = self.features(spec)
        pooled = torch.cat([h.mean(dim=3), h.amax(dim=3)], dim=1).flatten(1)
        return self.head(pooled).squeeze(1)


class SpectroCNNDetector:
    name = NAME
    version = VERSION

    def __init__(self, net: SpectroNet, width: int, device: str = "auto") -> None:
        self.device = resolve_device(device)
        self.net = net.to(self.device).eval()
        self.width = width

    @torch.inference_mode()
    def predict(self, windows: np.ndarray) -> np.ndarray:
        logits = self.net(to_tensor(windows, self.device))
        return torch.sigmoid(logits).float().cpu().numpy()

    @torch.inference_mode()
    def predict_features(self, specs: np.ndarray, batch_size: int = 128) -> np.ndarray:
        """P(ai) from cached `log_spectrogram` rows [B, F, T] (any float dtype, e.g. float16 on disk)."""
        out = [
            torch.sigmoid(self.net.forward_spectrogram(spec_tensor(specs[i : i + batch_size], self.device)))
            for i in range(0, len(specs), batch_size)
        ]
        return torch.cat(out).float().cpu().numpy() if out else np.zeros(0, np.float32)

    def save(self, directory: Path) -> dict[str, Any]:
        save_file(
            {k: v.detach().cpu().contiguous() for k, v in self.net.state_dict().items()}, str(directory / WEIGHTS)
        )
        return {"files": [WEIGHTS], "config": {"constants": CONSTANTS, "width": self.width}}

    @classmethod
    def load(cls, directory: Path, config: dict[str, Any], device: str = "auto") -> SpectroCNNDetector:
        width = int(config["width"])
        net = SpectroNet(width)
        net.load_state_dict(load_file(str(directory / WEIGHTS)), strict=True)
        return cls(net, width, device)


def spec_tensor(specs: np.ndarray, device: torch.device) -> torch.Tensor:
    """[B, F, T] cached spectrograms -> float32 [B, 1, F, T] on `device`."""
    return torch.from_numpy(np.ascontiguousarray(specs)).to(device=device, dtype=torch.float32).unsqueeze(1)
