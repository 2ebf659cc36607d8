"""Human speech sources: Asterisk phone prompts, Fillets game dialogue, KLettres, Hedgewars voices.

Item keys of fillets-*, klettres and hedgewars-voices are the resume keys of corpus builds
made before this package existed: do not change how they are formed.
"""

from __future__ import annotations

from dataclasses import replace
from functools import partial
from pathlib import Path

from .base import HUMAN, SPEECH, Item, PlanContext, Source, human_item, slug
from .budget import pack, pick_balanced
from .fetch import fetch_deb
from .files import ChannelVariants, FilesSpec, probe_duration
from .text import as_sentence, asterisk_prompts, fillets_lines


def _packed_items(
    source: str,
    speaker: str,
    lang: str,
    group: str,
    pool: str,
    family: str,
    files: list[tuple[Path, float]],
    fmt: str | None,
) -> list[Item]:
    """One item per pack of consecutive short clips of one speaker (key: source, speaker, index)."""
    return [
        human_item(
            slug(f"{source}__{speaker}__{i:04d}"),
            SPEECH,
            source,
            family,
            speaker,
            sum(d for _, d in pk),
            FilesSpec(tuple(str(p) for p, _ in pk), fmt=fmt, pack=len(pk) > 1),
            lang=lang,
            group=group,
            pool=pool,
        )
        for i, pk in enumerate(pack(files))
    ]


_TONES = {"beep", "beeperr", "ascending-2tone", "descending-2tone"}  # not speech
_ASTERISK = {"en": "allison", "es": "allison", "fr": "june", "it": "carlo", "ru": "ivrvoice-ru"}


def plan_asterisk(ctx: PlanContext) -> list[Item]:
    """Asterisk phone prompts; en and es are the same woman (one group).

    The 8 kHz wav and the wideband G.722 packages hold the same recordings: each item (a
    prompt, or a pack of short prompts of one folder) renders one of the two encodings.
    """
    items: list[Item] = []
    for lang, spk in _ASTERISK.items():
        g722 = fetch_deb(f"asterisk-core-sounds-{lang}-g722", ctx.cache) / "usr/share/asterisk/sounds"
        wav = fetch_deb(f"asterisk-core-sounds-{lang}-wav", ctx.cache) / "usr/share/asterisk/sounds"
        prompts = asterisk_prompts(ctx.cache, lang)
        files = sorted(p for p in g722.rglob("*.g722") if "silence" not in p.parts and p.stem not in _TONES)
        by_dir: dict[Path, list[tuple[Path, float]]] = {}
        for p in files:
            by_dir.setdefault(p.parent, []).append((p, probe_duration(p, "g722")))
        for d, lst in sorted(by_dir.items()):
            for i, pk in enumerate(pack(lst)):
                rel = [p.relative_to(g722) for p, _ in pk]
                names = ["/".join(r.with_suffix("").parts[1:]) for r in rel]  # 'digits/1'
                wavs = [wav / r.with_suffix(".wav") for r in rel]
                key = slug(f"asterisk__{lang}__{d.name}__{i:04d}")
                variants = [FilesSpec(tuple(str(p) for p, _ in pk), fmt="g722", pack=len(pk) > 1)]
                if all(w.exists() for w in wavs):
                    variants.append(FilesSpec(tuple(map(str, wavs)), pack=len(pk) > 1))
                items.append(
                    human_item(
                        key,
                        SPEECH,
                        f"asterisk-core-sounds-{lang}",
                        "asterisk",
                        f"asterisk:{spk}",
                        sum(d for _, d in pk),
                        ChannelVariants(key, tuple(variants)),
                        lang=lang,
                        text=" ".join(as_sentence(prompts[n]) for n in names if n in prompts),
                    )
                )
    return pick_balanced(items, ctx.budget_s, ctx.rng)


def plan_fillets(lang: str, ctx: PlanContext) -> list[Item]:
    """Acted Czech/Dutch game dialogue; speaker = language + character voice (font)."""
    src = f"fillets-ng-data-{lang}"
    root = fetch_deb(src, ctx.cache) / "usr/share/games/fillets-ng/sound"
    items: list[Item] = []
    seen: set[Path] = set()
    for ln in fillets_lines(ctx.cache, lang):
        p = root / ln.level / lang / f"{ln.did}.ogg"
        if not p.exists() or p in seen:
            continue
        seen.add(p)
        spk = f"fillets-{lang}:{ln.font}"
        # one actor may voice several minor characters: keep all minor ones in one split group
        group = spk if ln.font in ("small", "big") else f"fillets-{lang}:minor"
        items.append(
            human_item(
                slug(f"{src}__{ln.level}__{ln.did}"),
                SPEECH,
                src,
                f"fillets-{lang}",
                spk,
                probe_duration(p),
                FilesSpec((str(p),)),
                lang=lang,
                group=group,
                pool="fillets",
                text=ln.native,
            )
        )
    return pick_balanced(items, ctx.budget_s, ctx.rng)


def plan_klettres(ctx: PlanContext) -> list[Item]:
    """Letters and syllables, about one speaker per language (en/en_GB, pt/pt_BR grouped)."""
    src = "klettres-data"
    root = fetch_deb(src, ctx.cache) / "usr/share/klettres"
    items: list[Item] = []
    for d in sorted(p for p in root.iterdir() if p.is_dir() and p.name not in ("pics", "icons")):
        files = sorted(d.rglob("*.ogg"))
        if not files:
            continue
        spk = f"klettres:{d.name.split('_')[0]}"
        lst = [(p, probe_duration(p)) for p in files]
        sub = _packed_items(src, f"klettres:{d.name}", d.name, spk, "klettres", "klettres", lst, None)
        items += [replace(it, speaker=spk) for it in sub]
    return pick_balanced(items, ctx.budget_s, ctx.rng)


def plan_hedgewars_voices(ctx: PlanContext) -> list[Item]:
    """Hedgewars voice packs (Robot is processed, so dropped); Default_* / Russian_* grouped."""
    src = "hedgewars-data"
    root = fetch_deb(src, ctx.cache) / "usr/share/games/hedgewars/Data/Sounds/voices"
    items: list[Item] = []
    langs = {"es": "es", "pl": "pl", "ru": "ru", "uk": "uk"}
    for d in sorted(p for p in root.iterdir() if p.is_dir() and p.name != "Robot"):
        files = sorted(d.glob("*.ogg"))
        suffix = d.name.split("_")[-1] if "_" in d.name else ""
        lang = langs.get(suffix, "ru" if d.name.startswith("Russian") else "en")
        group = f"hedgewars:{d.name.split('_')[0]}"
        lst = [(p, probe_duration(p)) for p in files]
        items += _packed_items(
            src, f"hedgewars:{d.name}", lang, group, "hedgewars-voices", "hedgewars-voices", lst, None
        )
    return pick_balanced(items, ctx.budget_s, ctx.rng)


SOURCES = [
    Source("asterisk", HUMAN, SPEECH, plan_asterisk),
    Source("fillets-cs", HUMAN, SPEECH, partial(plan_fillets, "cs")),
    Source("fillets-nl", HUMAN, SPEECH, partial(plan_fillets, "nl")),
    Source("klettres", HUMAN, SPEECH, plan_klettres),
    Source("hedgewars-voices", HUMAN, SPEECH, plan_hedgewars_voices),
]
