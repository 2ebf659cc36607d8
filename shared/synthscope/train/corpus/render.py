"""Worker side of the build: render one item, debias it, cut it into clips and write 16 kHz FLAC."""

from __future__ import annotations

import contextlib
import itertools
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from synthscope.train.augment import SR, augment, trim_silence
from synthscope.train.sources import Item, stable_hash

MAX_CLIP_S = 10.0
MIN_CLIP_S = 1.0


@dataclass(frozen=True)
class ClipRecord:
    """What rendering learned about one written clip; the plan supplies the rest of its manifest row."""

    path: str
    codec: str
    duration_s: float
    lowpass_hz: int
    snr_db: float | None
    target_db: float
    rt60_s: float | None


def worker_init() -> None:
    """One BLAS/ORT/torch thread per worker and a lower priority: other work shares this machine."""
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = "1"
    with contextlib.suppress(OSError):
        os.nice(5)


def segment_bounds(n: int, sr: int = SR, max_s: float = MAX_CLIP_S) -> list[tuple[int, int]]:
    """Cut n samples into equal pieces of at most max_s seconds."""
    k = max(1, math.ceil(n / (max_s * sr)))
    edges = np.linspace(0, n, k + 1).astype(int)
    return [(int(a), int(b)) for a, b in itertools.pairwise(edges)]


def usable(x: np.ndarray) -> bool:
    """Long enough, finite and not silent: anything else yields no clip."""
    return x.size >= MIN_CLIP_S * SR and bool(np.isfinite(x).all()) and float(np.max(np.abs(x))) >= 1e-4


def process_item(item: Item, out_dir: Path, seed: int) -> list[ClipRecord]:
    """Render one item, trim, cut into ≤ 10 s clips, augment each and write 16 kHz FLAC (atomically)."""
    import soundfile as sf

    x = trim_silence(item.spec.render(item.text, SR))
    records: list[ClipRecord] = []
    if not usable(x):
        return records
    rel_dir = Path("audio") / item.label / item.kind / item.source
    (out_dir / rel_dir).mkdir(parents=True, exist_ok=True)
    for i, (a, b) in enumerate(segment_bounds(x.size)):
        seg = x[a:b]
        if seg.size < MIN_CLIP_S * SR:
            continue
        rng = np.random.default_rng([seed, stable_hash(item.key) % 2**32, i])
        y, info = augment(seg, rng)
        if y.size < MIN_CLIP_S * SR:
            continue
        rel = rel_dir / f"{item.key}_{i:02d}.flac"
        tmp = out_dir / rel.with_suffix(".tmp.flac")
        sf.write(str(tmp), y, SR, subtype="PCM_16", format="FLAC")
        os.replace(tmp, out_dir / rel)
        records.append(
            ClipRecord(
                path=rel.as_posix(),
                codec=info["codec"],
                duration_s=round(y.size / SR, 3),
                lowpass_hz=int(info["lowpass_hz"]),
                snr_db=info["snr_db"],
                target_db=float(info["target_db"]),
                rt60_s=info.get("rt60_s"),
            )
        )
    return records
