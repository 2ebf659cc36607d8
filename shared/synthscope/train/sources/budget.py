"""Spending a source's duration budget: balanced over speakers (humans) or voices (TTS).

A source with many clips from one speaker must not crowd out the others, so human items are
drawn round-robin over split groups; TTS budgets are spread evenly over voices, each voice
reading its own random sentences.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .base import AI, SPEECH, Item, PlanContext, RenderSpec, slug, stable_hash


def pick_balanced(
    items: list[Item], budget_s: float, rng: np.random.Generator, max_items: int | None = None
) -> list[Item]:
    """Round-robin over groups in random order until the duration budget is used (cap per source)."""
    by_group: dict[str, list[Item]] = {}
    for it in items:
        by_group.setdefault(it.group, []).append(it)
    queues = []
    for g in sorted(by_group):
        lst = by_group[g]
        order = rng.permutation(len(lst))
        queues.append([lst[i] for i in order])
    rng.shuffle(queues)  # type: ignore[arg-type]
    out: list[Item] = []
    total = 0.0
    while queues and total < budget_s and (max_items is None or len(out) < max_items):
        nxt = []
        for q in queues:
            if total >= budget_s or (max_items is not None and len(out) >= max_items):
                break
            it = q.pop()
            out.append(it)
            total += it.est_s
            if q:
                nxt.append(q)
        queues = nxt
    return out


def pack(files: list[tuple[Path, float]], target_s: float = 5.0) -> list[list[tuple[Path, float]]]:
    """Group consecutive short clips of one speaker so packed clips last ≥ 1 s after trimming."""
    packs: list[list[tuple[Path, float]]] = []
    cur: list[tuple[Path, float]] = []
    dur = 0.0
    for f, d in files:
        if d >= target_s and not cur:
            packs.append([(f, d)])
            continue
        cur.append((f, d))
        dur += d
        if dur >= target_s:
            packs.append(cur)
            cur, dur = [], 0.0
    if cur:
        packs.append(cur)
    return packs


@dataclass(frozen=True)
class Voice:
    """A TTS voice as the planner sees it: id, split group, text language, engine family."""

    vid: str  # used in keys and (unless `speaker` is set) the speaker id
    group: str  # split group, e.g. 'voice:kal' (flite kal and festival kal are one person)
    lang: str
    family: str  # leave-one-out engine family
    speaker: str = ""  # defaults to '<engine>:<vid>'


def est_tts(text: str, lang: str) -> float:
    """Rough seconds of speech for a sentence (Japanese characters carry more)."""
    return max(1.0, len(text) * (0.16 if lang == "ja" else 0.068))


def tts_items(
    engine: str,
    source: str,
    voices: Sequence[Voice],
    ctx: PlanContext,
    texts: Callable[[str], list[str]],
    make_spec: Callable[[Voice, str], RenderSpec],
    group_of: Callable[[Voice, str], str] | None = None,
) -> list[Item]:
    """Spread the budget evenly over voices; each voice reads its own random sentences.

    `texts(lang)` gives the sentence pool of a language; `group_of` overrides the split group
    per sentence (a single-voice engine is split by text instead of by voice).
    """
    per_voice = ctx.budget_s / max(1, len(voices))
    items: list[Item] = []
    pools: dict[str, list[str]] = {}
    for v in voices:
        pool = pools.setdefault(v.lang, texts(v.lang))
        used = 0.0
        for i in ctx.rng.permutation(len(pool)):
            if used >= per_voice:
                break
            t = pool[int(i)]
            est = est_tts(t, v.lang)
            used += est
            items.append(
                Item(
                    key=slug(f"{engine}__{v.vid}__{stable_hash(t) % 10**10:010d}"),
                    label=AI,
                    kind=SPEECH,
                    source=source,
                    engine=engine,
                    family=v.family,
                    speaker=v.speaker or f"{engine}:{v.vid}",
                    lang=v.lang,
                    group=group_of(v, t) if group_of else v.group,
                    pool=engine,
                    est_s=est,
                    spec=make_spec(v, t),
                    text=t,
                )
            )
    return items
