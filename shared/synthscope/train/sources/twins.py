"""Re-synthesis twins: the same human clip sent through a vocoder (shared by every vocoder source).

A twin differs from its human original only by the vocoder, so it teaches vocoding rather than
speaker, language or content. Each vocoder twins a *different* deterministic selection of the
humans (the order is salted by the vocoder name), spread round-robin over speaker groups so one
prolific speaker cannot fill the budget, with a fixed share of music when music humans exist.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache, partial
from typing import ClassVar

import numpy as np

from ..augment import trim_silence
from .base import AI, MUSIC, SPEECH, Item, PlanContext, RenderSpec, Source, slug, stable_hash
from .budget import pick_balanced
from .runtime import resample

MUSIC_SHARE = 0.25  # of a vocoder's budget, when music humans exist
MIN_TWIN_S = 0.5  # shorter (after trimming) clips render as empty: vocoders need context


@dataclass(frozen=True)
class TwinSpec:
    """Render the human spec at the vocoder's rate, trim it, vocode it, resample to the caller's rate.

    Subclasses set `rate` and implement `vocode`; their extra fields are the vocoder's settings.
    """

    human: RenderSpec
    cost: float = 0.1

    rate: ClassVar[int] = 16_000

    def vocode(self, y: np.ndarray) -> np.ndarray:
        """Mono float32 at `rate` in, re-synthesised mono float32 at `rate` out."""
        raise NotImplementedError

    def render(self, text: str, sr: int) -> np.ndarray:
        """The twin's audio at `sr`; empty when the trimmed human clip is too short to vocode."""
        y = trim_silence(self.human.render("", self.rate))
        if y.size < int(MIN_TWIN_S * self.rate):
            return np.zeros(0, np.float32)
        out = np.nan_to_num(np.asarray(self.vocode(y), np.float32).reshape(-1)[: y.size])
        peak = float(np.max(np.abs(out))) if out.size else 0.0
        if peak > 0.99:  # WORLD overshoots on loud music: scale (level is normalised later), never clip
            out *= np.float32(0.99 / peak)
        return resample(out, self.rate, sr)


def _pick(humans: list[Item], target_s: float, salt: str) -> list[Item]:
    """Speaker-balanced, salted deterministic choice; a larger target gives a superset."""
    return pick_balanced(humans, target_s, np.random.default_rng(stable_hash("twins", salt)))


def _total(items: list[Item]) -> float:
    return sum(h.est_s for h in items)


def pick_humans(humans: tuple[Item, ...], budget_s: float, salt: str, music_share: float = MUSIC_SHARE) -> list[Item]:
    """Choose which humans get a twin: `music_share` of the budget on music, the rest on speech.

    Budget one kind cannot use (too few clips) goes to the other kind.
    """
    speech = [h for h in humans if h.kind == SPEECH]
    music = [h for h in humans if h.kind == MUSIC]
    got_music = _pick(music, budget_s * (music_share if speech else 1.0), salt)
    got_speech = _pick(speech, budget_s - _total(got_music), salt)
    left = budget_s - _total(got_music) - _total(got_speech)
    if left > 0 and len(got_music) < len(music):  # speech ran out: music gets the rest
        got_music = _pick(music, _total(got_music) + left, salt)
    return got_music + got_speech


def twin_key(engine: str, human_key: str) -> str:
    """`engine__humankey`; long keys keep a hash of the human key, since `slug` cuts at 80 chars."""
    full = f"{engine}__{human_key}"
    if len(full) <= 80:
        return slug(full)
    return slug(f"{engine}__{human_key[:50]}__{stable_hash(human_key) % 10**10:010d}")


def plan_twins(
    ctx: PlanContext,
    *,
    engine: str,
    family: str,
    source: str,
    make_spec: Callable[[Item], RenderSpec],
    music_share: float = MUSIC_SHARE,
) -> list[Item]:
    """Twin Items for one vocoder: they copy the human's identity fields; `twin_of` is its key."""
    chosen = pick_humans(ctx.humans, ctx.budget_s, f"{engine}\x1f{ctx.seed}", music_share)
    return [
        Item(
            key=twin_key(engine, h.key),
            label=AI,
            kind=h.kind,
            source=source,
            engine=engine,
            family=family,
            speaker=h.speaker,
            lang=h.lang,
            group=h.group,
            pool=h.pool,
            est_s=h.est_s,
            spec=make_spec(h),
            text=h.text,
            twin_of=h.key,
        )
        for h in chosen
    ]


def twin_source(
    name: str, package: str, make_spec: Callable[[Item], RenderSpec], pip: dict[str, str] | None = None
) -> Source:
    """The registry entry of a vocoder: derived, speech and music; name = engine = family."""
    plan = partial(plan_twins, engine=name, family=name, source=package, make_spec=make_spec)
    return Source(name=name, label=AI, kind=f"{SPEECH}+{MUSIC}", plan=plan, derived=True, pip=pip or {})


@dataclass(frozen=True)
class MelTwinSpec(TwinSpec):
    """Twin through a neural mel → waveform generator (HiFi-GAN): log-mel up to 8 kHz, 80 bands."""

    n_fft: ClassVar[int] = 1024
    hop: ClassVar[int] = 256
    win: ClassVar[int] = 1024

    def network(self) -> Callable[[np.ndarray], np.ndarray]:
        """The process's generator: [80, T] log-mel in, waveform out."""
        raise NotImplementedError

    def vocode(self, y: np.ndarray) -> np.ndarray:
        mel = log_mel(y, self.rate, n_fft=self.n_fft, hop=self.hop, win=self.win, fmax=8000.0)
        return vocode_chunked(self.network(), mel, self.hop)


@lru_cache(maxsize=8)
def _mel_basis(sr: int, n_fft: int, n_mels: int, fmax: float) -> np.ndarray:
    import librosa

    return np.asarray(librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=0.0, fmax=fmax), np.float32)


def log_mel(y: np.ndarray, sr: int, *, n_fft: int, hop: int, win: int, fmax: float, n_mels: int = 80) -> np.ndarray:
    """HiFi-GAN input features: natural log of the Slaney mel of the STFT magnitude, clipped at 1e-5."""
    import librosa

    mag = np.abs(librosa.stft(y, n_fft=n_fft, hop_length=hop, win_length=win, center=True))
    return np.log(np.clip(_mel_basis(sr, n_fft, n_mels, fmax) @ mag, 1e-5, None)).astype(np.float32)


def vocode_chunked(
    net: Callable[[np.ndarray], np.ndarray], mel: np.ndarray, hop: int, step: int = 1000, pad: int = 32
) -> np.ndarray:
    """Run a mel → waveform network on long inputs in pieces (flat memory), without seams.

    Each piece gets `pad` frames of context on both sides; only its central samples are kept.
    """
    n = mel.shape[1]
    outs = []
    for i in range(0, n, step):
        lo, hi = max(0, i - pad), min(n, i + step + pad)
        wav = np.asarray(net(mel[:, lo:hi]), np.float32).reshape(-1)
        a = (i - lo) * hop
        outs.append(wav[a : a + (min(n, i + step) - i) * hop])
    return np.concatenate(outs) if outs else np.zeros(0, np.float32)
