"""Cut a chunk stream into fixed-length windows, batched for the detectors.

Only one window plus one chunk of audio is ever buffered, so memory stays flat
however long the file is.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np

from synthscope.config import SAMPLE_RATE

#: A trailing piece shorter than this is dropped rather than padded into a window.
MIN_TAIL_S = 1.0


@dataclass
class WindowBatch:
    starts: np.ndarray  # seconds, float64 [B]
    ends: np.ndarray  # seconds, float64 [B] (the real end: a padded tail ends early)
    samples: np.ndarray  # float32 [B, window samples]

    def __len__(self) -> int:
        return int(self.starts.shape[0])


def fit_length(x: np.ndarray, n: int) -> np.ndarray:
    """Exactly n samples: crop, or repeat the signal (never pad with digital silence, a giveaway)."""
    if x.shape[0] >= n:
        return x[:n]
    if x.shape[0] == 0:
        return np.zeros(n, np.float32)
    return np.resize(x, n).astype(np.float32, copy=False)


def window_count(duration_s: float, window_s: float, hop_s: float) -> int:
    """How many windows `iter_windows` yields for audio this long (for progress and ETA)."""
    if duration_s < MIN_TAIL_S:
        return 0
    full = 0 if duration_s < window_s else int((duration_s - window_s) // hop_s) + 1
    covered = (full - 1) * hop_s + window_s if full else 0.0
    tail_start = full * hop_s
    has_tail = duration_s - tail_start >= MIN_TAIL_S and duration_s - covered > 1e-9
    return full + int(has_tail)


def iter_windows(
    chunks: Iterable[np.ndarray], *, window_s: float, hop_s: float, sr: int = SAMPLE_RATE
) -> Iterator[tuple[float, float, np.ndarray]]:
    """(start_s, end_s, samples) per window; the tail (≥ MIN_TAIL_S) is repeated up to full length."""
    win, hop = round(window_s * sr), round(hop_s * sr)
    buf = np.zeros(0, np.float32)
    offset = 0  # sample index of buf[0]
    last_end = 0
    for chunk in chunks:
        buf = np.concatenate([buf, chunk]) if buf.size else chunk
        while buf.shape[0] >= win:
            yield offset / sr, (offset + win) / sr, buf[:win].copy()
            last_end = offset + win
            buf = buf[hop:]
            offset += hop
    # Tail: whatever is left that no full window covered.
    uncovered = offset + buf.shape[0] - max(last_end, offset)
    if buf.shape[0] >= round(MIN_TAIL_S * sr) and uncovered > 0:
        yield offset / sr, (offset + buf.shape[0]) / sr, fit_length(buf, win)


def iter_batches(
    chunks: Iterable[np.ndarray], *, window_s: float, hop_s: float, batch_size: int
) -> Iterator[WindowBatch]:
    starts: list[float] = []
    ends: list[float] = []
    rows: list[np.ndarray] = []
    for start, end, samples in iter_windows(chunks, window_s=window_s, hop_s=hop_s):
        starts.append(start)
        ends.append(end)
        rows.append(samples)
        if len(rows) == batch_size:
            yield WindowBatch(np.array(starts), np.array(ends), np.stack(rows))
            starts, ends, rows = [], [], []
    if rows:
        yield WindowBatch(np.array(starts), np.array(ends), np.stack(rows))
