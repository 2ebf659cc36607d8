"""Fill the feature cache: decode each clip once, apply each codec condition once, run every extractor.

Windows are cut as at inference (non-overlapping, `audio.windows.iter_windows`) and only
judgeable ones (`audio.gate.activity`) are kept, so the benchmark judges what the product judges.
Work goes out in chunks of clips, to `--workers` processes when more than one; each chunk
batches its windows per (condition, extractor), and the main process alone writes the cache.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np

from synthscope.config import SAMPLE_RATE
from synthscope.train.benchmark.cache import Entry, FeatureCache, storage_condition
from synthscope.train.benchmark.extractors import Extractor

CHUNK_CLIPS = 16
STORED = "stored"
#: Training-only condition: each fit clip through one more random channel (`augment.channel_augment`).
AUGMENTED = "augmented"


@dataclass(frozen=True)
class ClipJob:
    """One clip's missing features: for each storage condition, the extractors that lack it."""

    sha: str
    path: Path
    missing: tuple[tuple[str, tuple[str, ...]], ...]


@dataclass
class ExtractionStats:
    clips: int = 0  # distinct clips the run needs
    entries_needed: int = 0  # (clip, condition, extractor) triples
    entries_cached: int = 0  # of those, already in the cache
    entries_written: int = 0
    windows_extracted: int = 0
    seconds: float = 0.0
    failed: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)


def condition_audio(x: np.ndarray, condition: str) -> np.ndarray:
    """The clip as heard through one condition; `stored` (and its alias `wav`) is the clip untouched."""
    if storage_condition(condition) == STORED:
        return x
    if condition == AUGMENTED:
        import zlib

        from synthscope.train.augment import channel_augment

        return channel_augment(x, zlib.crc32(np.ascontiguousarray(x, np.float32).tobytes()))
    from synthscope.train.augment import apply_codec  # encoders: only when a codec is asked for

    return np.asarray(apply_codec(x, condition), dtype=np.float32)


def clip_windows(x: np.ndarray, window_s: float) -> np.ndarray:
    """Judgeable non-overlapping windows of one clip, float32 [n, window samples] (n may be 0)."""
    from synthscope.audio.gate import activity
    from synthscope.audio.windows import iter_windows

    win = round(window_s * SAMPLE_RATE)
    ws = [w for _, _, w in iter_windows([x], window_s=window_s, hop_s=window_s)]
    if not ws:
        return np.zeros((0, win), np.float32)
    stacked = np.stack(ws).astype(np.float32, copy=False)
    return stacked[activity(stacked).judgeable]


def plan(
    cache: FeatureCache,
    extractors: Mapping[str, Extractor],
    needs: Mapping[str, tuple[Path, set[str]]],
    stats: ExtractionStats,
) -> list[ClipJob]:
    """Jobs for every (clip sha -> (path, conditions)) whose features some extractor lacks."""
    by_cond: dict[str, set[str]] = defaultdict(set)
    for sha, (_, conds) in needs.items():
        for c in conds:
            by_cond[storage_condition(c)].add(sha)
    lacking: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for cond, shas in sorted(by_cond.items()):
        for name, ex in extractors.items():
            have = set(cache.counts(ex.name, ex.version, cond, shas))
            stats.entries_needed += len(shas)
            stats.entries_cached += len(have)
            for sha in shas - have:
                lacking[sha][cond].append(name)
    stats.clips = len(needs)
    return [
        ClipJob(sha, needs[sha][0], tuple((c, tuple(names)) for c, names in sorted(conds.items())))
        for sha, conds in sorted(lacking.items())
    ]


def extract_chunk(
    jobs: Sequence[ClipJob], extractors: Mapping[str, Extractor], window_s: float
) -> tuple[dict[str, list[Entry]], int, list[tuple[str, str]]]:
    """Features for a chunk of clips: ({extractor: entries}, windows extracted, failures)."""
    from synthscope.audio.decode import decode_all

    pending: dict[tuple[str, str], list[tuple[str, np.ndarray]]] = defaultdict(list)
    failed: list[tuple[str, str]] = []
    for job in jobs:
        try:
            x = decode_all(job.path)
            for cond, names in job.missing:
                w = clip_windows(condition_audio(x, cond), window_s)
                for name in names:
                    pending[(cond, name)].append((job.sha, w))
        except Exception as exc:  # one unreadable clip must not end an hour of extraction
            failed.append((str(job.path), f"{type(exc).__name__}: {exc}"))
    out: dict[str, list[Entry]] = defaultdict(list)
    n_windows = 0
    for (cond, name), items in pending.items():
        ex = extractors[name]
        counts = [len(w) for _, w in items]
        total = sum(counts)
        feats = ex.extract(np.concatenate([w for _, w in items])) if total else None
        n_windows += total
        start = 0
        for (sha, _), n in zip(items, counts, strict=True):
            part = feats[start : start + n] if feats is not None else np.zeros((0,), ex.dtype)
            out[name].append(Entry(sha, cond, np.ascontiguousarray(part, dtype=ex.dtype)))
            start += n
    return dict(out), n_windows, failed


_WORKER: dict[str, Any] = {}


def _init_worker(factories: dict[str, Callable[[], Extractor]], window_s: float) -> None:
    import torch

    torch.set_num_threads(1)  # one process per core: torch's own threads would oversubscribe
    _WORKER["extractors"] = {name: make() for name, make in factories.items()}
    _WORKER["window_s"] = window_s


def _worker_chunk(jobs: list[ClipJob]) -> tuple[dict[str, list[Entry]], int, list[tuple[str, str]]]:
    return extract_chunk(jobs, _WORKER["extractors"], _WORKER["window_s"])


def run_extraction(
    cache: FeatureCache,
    extractors: Mapping[str, Extractor],
    factories: Mapping[str, Callable[[], Extractor]],
    jobs: list[ClipJob],
    *,
    window_s: float,
    workers: int,
    stats: ExtractionStats,
    tick: Callable[[int], None] = lambda n: None,
    chunk_clips: int = CHUNK_CLIPS,
) -> None:
    """Extract every job and write it to the cache as chunks finish; `tick(n)` after n clips."""
    started = time.perf_counter()
    chunks = [jobs[i : i + chunk_clips] for i in range(0, len(jobs), chunk_clips)]

    def store(result: tuple[dict[str, list[Entry]], int, list[tuple[str, str]]], n_clips: int) -> None:
        entries, n_windows, failed = result
        for name, items in entries.items():
            ex = extractors[name]
            stats.entries_written += cache.put(ex.name, ex.version, items)
        stats.windows_extracted += n_windows
        stats.failed.extend(failed)
        tick(n_clips)

    if workers <= 1 or len(chunks) <= 1:
        for chunk in chunks:
            store(extract_chunk(chunk, extractors, window_s), len(chunk))
    else:
        with ProcessPoolExecutor(
            max_workers=workers,
            mp_context=get_context("spawn"),
            initializer=_init_worker,
            initargs=(dict(factories), window_s),
        ) as pool:
            futures = {pool.submit(_worker_chunk, chunk): len(chunk) for chunk in chunks}
            for fut in as_completed(futures):
                store(fut.result(), futures[fut])
    stats.seconds += time.perf_counter() - started
