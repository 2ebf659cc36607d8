"""Human music: 10 s excerpts of game soundtracks, Frets on Fire songs and hold music.

A track is the split unit ('speaker'). Item keys are the resume keys of corpus builds made
before this package existed: do not change how they are formed.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .base import HUMAN, MUSIC, Item, PlanContext, Source, human_item, slug
from .budget import pick_balanced
from .fetch import fetch_deb
from .files import FilesSpec, probe_duration

MUSIC_EXCERPT_S = 10.0


def music_items(src: str, pool: str, tracks: Sequence[tuple[str, list[Path], str | None]]) -> list[Item]:
    """10 s excerpts of whole tracks (from 2 s in; the last second is skipped); stems are mixed."""
    items = []
    for name, paths, fmt in tracks:
        dur = min(probe_duration(p, fmt) for p in paths)
        starts = np.arange(2.0, max(2.0, dur - MUSIC_EXCERPT_S - 1.0) + 1e-6, MUSIC_EXCERPT_S)
        for s in starts:
            d = float(min(MUSIC_EXCERPT_S, dur - s))
            if d < 2.0:
                continue
            spk = f"{pool}:{slug(name)}"
            items.append(
                human_item(
                    slug(f"{src}__{name}__{int(s):05d}"),
                    MUSIC,
                    src,
                    pool,
                    spk,
                    d,
                    FilesSpec(tuple(str(p) for p in paths), fmt=fmt, offset=float(s), duration=d, mix=len(paths) > 1),
                )
            )
    return items


def plan_hedgewars_music(ctx: PlanContext) -> list[Item]:
    """Hedgewars soundtrack (one file per track)."""
    root = fetch_deb("hedgewars-data", ctx.cache) / "usr/share/games/hedgewars/Data/Music"
    tracks = [(p.stem, [p], None) for p in sorted(root.glob("*.ogg"))]
    return pick_balanced(music_items("hedgewars-data", "hedgewars-music", tracks), ctx.budget_s, ctx.rng)


def plan_fretsonfire(ctx: PlanContext) -> list[Item]:
    """Frets on Fire songs: backing track + guitar stem mixed back into the full song."""
    items: list[Item] = []
    for pkg in ("fretsonfire-songs-muldjord", "fretsonfire-songs-sectoid"):
        root = fetch_deb(pkg, ctx.cache)
        tracks = []
        for song in sorted(root.rglob("song.ogg")):
            paths = [song, *sorted(p for p in song.parent.glob("*.ogg") if p.name != "song.ogg")]
            tracks.append((song.parent.name, paths, None))
        items += music_items(pkg, "fretsonfire", tracks)
    return pick_balanced(items, ctx.budget_s, ctx.rng)


def plan_fillets_music(ctx: PlanContext) -> list[Item]:
    """Fish Fillets soundtrack."""
    root = fetch_deb("fillets-ng-data", ctx.cache) / "usr/share/games/fillets-ng/music"
    tracks = [(p.stem, [p], None) for p in sorted(root.glob("*.ogg"))]
    return pick_balanced(music_items("fillets-ng-data", "fillets-music", tracks), ctx.budget_s, ctx.rng)


def plan_moh(ctx: PlanContext) -> list[Item]:
    """Asterisk music on hold, wideband G.722 (raw stream)."""
    root = fetch_deb("asterisk-moh-opsound-g722", ctx.cache)
    tracks = [(p.stem, [p], "g722") for p in sorted(root.rglob("*.g722"))]
    return pick_balanced(music_items("asterisk-moh-opsound-g722", "asterisk-moh", tracks), ctx.budget_s, ctx.rng)


SOURCES = [
    Source("hedgewars-music", HUMAN, MUSIC, plan_hedgewars_music),
    Source("fretsonfire", HUMAN, MUSIC, plan_fretsonfire),
    Source("fillets-music", HUMAN, MUSIC, plan_fillets_music),
    Source("asterisk-moh", HUMAN, MUSIC, plan_moh),
]
