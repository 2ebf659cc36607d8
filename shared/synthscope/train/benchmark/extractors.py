"""Feature extractors: the expensive, label-free half of each detector, run once and cached.

Each detector splits into an extractor (windows -> features, deterministic, no training)
and a head (features -> P(ai), refitted per fold). Only the head is refitted per fold, so
a leave-one-source-out refit costs minutes, not the hours of re-running STFTs and codecs.

An extractor's `version` is its detector's VERSION plus a digest of the constants that
shape its output, so changing an STFT size or a band edge misses the cache by itself.
"""

from __future__ import annotations

import hashlib
import importlib
import json
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch

BATCH = 64


@runtime_checkable
class Extractor(Protocol):
    """float32 windows [B, samples] -> features [B, ...] in `dtype` (the on-disk type)."""

    name: str
    version: str
    dtype: np.dtype[Any]

    def extract(self, windows: np.ndarray) -> np.ndarray: ...


def versioned(detector_version: str, constants: dict[str, Any], revision: int = 1) -> str:
    """`<detector version>-<constants digest>-r<revision>`; bump `revision` when the code changes."""
    digest = hashlib.sha256(json.dumps(constants, sort_keys=True, default=str).encode()).hexdigest()[:8]
    return f"{detector_version}-{digest}-r{revision}"


def _batched(fn: Any, windows: np.ndarray, dtype: np.dtype[Any]) -> np.ndarray:
    parts = [np.asarray(fn(windows[i : i + BATCH]), dtype=dtype) for i in range(0, len(windows), BATCH)]
    return np.concatenate(parts) if parts else np.zeros((0,), dtype)


class _DetectorFeatures:
    """The feature function of one `synthscope.detect` module, versioned by that module's constants."""

    name: str
    dtype: np.dtype[Any]

    def __init__(self) -> None:
        self._mod: Any = importlib.import_module(f"synthscope.detect.{self.name}")
        self.version = versioned(self._mod.VERSION, self._mod.CONSTANTS)

    def features(self, windows: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def extract(self, windows: np.ndarray) -> np.ndarray:
        return _batched(self.features, windows, self.dtype)


class FakeprintExtractor(_DetectorFeatures):
    """`fakeprint.residue`: the normalised 1–8 kHz peak residue (float32, ~3.6 k bins)."""

    name = "fakeprint"
    dtype = np.dtype(np.float32)

    def features(self, windows: np.ndarray) -> np.ndarray:
        return self._mod.residue(windows)


class AcousticExtractor(_DetectorFeatures):
    """`acoustic.features`: the interpretable feature vector (float32); the head standardises it."""

    name = "acoustic"
    dtype = np.dtype(np.float32)

    def features(self, windows: np.ndarray) -> np.ndarray:
        return self._mod.features(windows)[0]


class SpectrogramExtractor(_DetectorFeatures):
    """`spectro_cnn.log_spectrogram` [B, 257, 188], float16 on disk: per-window standardised values
    need no more precision, and half the bytes is ~97 kB per 3-s window instead of ~193 kB."""

    name = "spectro_cnn"
    dtype = np.dtype(np.float16)

    def features(self, windows: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            x = torch.from_numpy(np.ascontiguousarray(windows, dtype=np.float32))
            return self._mod.log_spectrogram(x)[:, 0].numpy()


class SpeechEncoderExtractor(_DetectorFeatures):
    """`speech_encoder.SpeechEncoder.pooled`: time mean + std of every Whisper tiny.en hidden state,
    [B, 5, 768], float16 on disk (~7.7 kB per window; pooled activations need no more precision).

    The version carries the weights' sha256 prefix, so another `model.bin` misses the cache. The
    encoder is loaded on the first `extract`, not here: the main process builds extractors only
    to read their versions.
    """

    name = "speech_encoder"
    dtype = np.dtype(np.float16)

    def __init__(self) -> None:
        super().__init__()
        self.version = versioned(f"{self._mod.VERSION}+{self._mod.weights_sha256()[:12]}", self._mod.CONSTANTS)
        self._encoder: Any = None

    def features(self, windows: np.ndarray) -> np.ndarray:
        if self._encoder is None:
            self._encoder = self._mod.load()
        return np.clip(self._encoder.pooled(windows), -65000.0, 65000.0)  # stay finite in float16
