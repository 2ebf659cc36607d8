"""What every detector provides, and the helpers they share."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch


@runtime_checkable
class Detector(Protocol):
    """Scores a batch of windows (float32 [B, N] at 16 kHz) with P(AI) per window."""

    name: str
    version: str

    def predict(self, windows: np.ndarray) -> np.ndarray: ...


class TrainableDetector(Detector, Protocol):
    """A detector the project trains itself and stores in a bundle."""

    def save(self, directory: Path) -> dict[str, Any]:
        """Write weight files into `directory`; return the manifest entry's `config` + `files`."""
        ...


def resolve_device(setting: str = "auto") -> torch.device:
    if setting == "cuda" or (setting == "auto" and torch.cuda.is_available()):
        return torch.device("cuda")
    return torch.device("cpu")


def to_tensor(windows: np.ndarray, device: torch.device) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(windows, dtype=np.float32)).to(device)


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -40, 40)))


def logit(p: np.ndarray, eps: float = 1e-4) -> np.ndarray:
    p = np.clip(p, eps, 1 - eps)
    return np.log(p / (1 - p))
