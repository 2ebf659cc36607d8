"""Process-local helpers for renderers: one-thread ONNX sessions, resampling, engine cache.

Rendering runs in worker processes (one per core), so heavy engines are created lazily once per
process and cached here, each with a single thread: the machine is small and shared.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

T = TypeVar("T")

_ENGINES: dict[str, Any] = {}


def cached_engine(name: str, make: Callable[[], T]) -> T:
    """The process's one instance of an engine, created on first use."""
    if name not in _ENGINES:
        _ENGINES[name] = make()
    return _ENGINES[name]  # type: ignore[no-any-return]


def ort_session(path: str | Path) -> Any:
    """An onnxruntime CPU session limited to one thread."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])


def resample(x: np.ndarray, sr_in: int, sr: int) -> np.ndarray:
    """High-quality resampling (soxr) to `sr`; a no-op copy-free cast when the rates agree."""
    if sr_in == sr:
        return np.asarray(x, np.float32)
    import librosa

    y = librosa.resample(np.asarray(x, np.float32), orig_sr=sr_in, target_sr=sr, res_type="soxr_hq")
    return np.asarray(y, np.float32)


def crossfade_concat(parts: list[np.ndarray], sr: int, fade_s: float = 0.01) -> np.ndarray:
    """Join clips without inserting digital silence (a TTS giveaway) or clicks."""
    parts = [p for p in parts if p.size]
    if not parts:
        return np.zeros(0, np.float32)
    out = parts[0]
    n = int(fade_s * sr)
    ramp = np.linspace(0.0, 1.0, n, dtype=np.float32)
    for p in parts[1:]:
        if out.size > n and p.size > n:
            mid = out[-n:] * ramp[::-1] + p[:n] * ramp
            out = np.concatenate([out[:-n], mid, p[n:]])
        else:
            out = np.concatenate([out, p])
    return out.astype(np.float32)
