"""Planning: enumerate every selected source under its budget, then assign speaker/voice-disjoint splits.

Splits are by identity, never by clip: a speaker, a TTS voice, a Kokoro blend (through its
dominant voice) or a music track lies wholly in one of train / calib / test, and a vocoder twin
lies where its human original lies (same speaker, same content), so no pair straddles splits.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np

from synthscope.train.sources import HUMAN, REGISTRY, Item, PlanContext, stable_hash
from synthscope.train.sources.fetch import ensure_pip

from .budgets import budget_seconds

SPLITS = ("train", "calib", "test")
SPLIT_FRACS = (0.6, 0.2, 0.2)

Log = Callable[[str], None]


def plan(cache: Path, *, scale: float, seed: int, sources: Sequence[str], log: Log = print) -> list[Item]:
    """Items of every selected source; derived sources (vocoder twins) see the humans planned before them."""
    unknown = [n for n in sources if n not in REGISTRY]
    if unknown:
        raise ValueError(f"unknown sources {unknown}; choose from {list(REGISTRY)}")
    ordered = sorted(sources, key=lambda n: (REGISTRY[n].derived, list(REGISTRY).index(n)))
    items: list[Item] = []
    for name in ordered:
        src = REGISTRY[name]
        t0 = time.time()
        ensure_pip(src.pip)
        ctx = PlanContext(
            cache=cache,
            budget_s=budget_seconds(name, scale),
            rng=np.random.default_rng([seed, stable_hash(name) % 2**32]),
            seed=seed,
            humans=tuple(i for i in items if i.label == HUMAN),
        )
        got = src.plan(ctx)
        minutes = sum(i.est_s for i in got) / 60
        log(f"  {name:<17} {len(got):5d} items  ~{minutes:6.1f} min  ({time.time() - t0:.1f}s)")
        items += got
    keys = [i.key for i in items]
    if len(set(keys)) != len(keys):
        dup = sorted({k for k in keys if keys.count(k) > 1})[:5]
        raise RuntimeError(f"duplicate item keys, e.g. {dup}")
    return items


def assign_splits(items: Iterable[Item]) -> dict[str, str]:
    """Map split group -> split: whole identities go to one split, ≈ 60/20/20 of duration per pool.

    Greedy per pool (largest group first into the split furthest below its target). A group seen
    in an earlier pool keeps its split (flite and festival share the kal and slt speakers). A pool
    with no more groups than splits (Kokoro: three base voices) gets one group per split, so every
    engine reaches every split. Twins carry their human's group, so they follow it.
    """
    pools: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for it in items:
        pools[it.pool][it.group] += it.est_s
    out: dict[str, str] = {}
    for pool in sorted(pools, key=lambda p: (len(pools[p]), p)):
        groups = pools[pool]
        ranked = sorted(groups, key=lambda g: (-groups[g], g))
        if len(groups) <= len(SPLITS):
            for g, s in zip(ranked, ("train", "test", "calib"), strict=False):
                out.setdefault(g, s)
            continue
        total = sum(groups.values())
        have = dict.fromkeys(SPLITS, 0.0)
        for g, d in groups.items():
            if g in out:
                have[out[g]] += d
        for g in ranked:
            if g in out:
                continue
            deficits = [frac * total - have[s] for s, frac in zip(SPLITS, SPLIT_FRACS, strict=True)]
            best = SPLITS[int(np.argmax(deficits))]
            out[g] = best
            have[best] += groups[g]
    return out
