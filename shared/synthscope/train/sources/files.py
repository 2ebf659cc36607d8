"""Recorded audio as a render spec: files decoded (one decoder: PyAV), cut, mixed or packed.

Human speech and music are files in Debian data packages. Decoding goes through
`synthscope.audio.decode` at the file's own rate and is then resampled with soxr, the same
resampler the TTS renderers use, so the two classes do not differ by resampling filter.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from synthscope.audio.decode import AudioStream
from synthscope.errors import CorruptAudio

from .base import stable_hash
from .runtime import crossfade_concat, resample

#: Compute seconds per second of audio: decode + soxr (measured 0.002 for clips, 0.02 for music excerpts).
FILES_COST = 0.012


def decode_file(
    path: str | Path, sr: int, *, fmt: str | None = None, offset: float = 0.0, duration: float | None = None
) -> np.ndarray:
    """Mono float32 at `sr` of a whole file or of its [offset, offset + duration) slice.

    Decodes from the start and cuts by sample count at the native rate (no seeking: Vorbis
    timestamps jump in some of these files, and two stems of one song must stay sample-aligned
    the way a game plays them). Decoding is ~1000x realtime, so this costs little.
    """
    try:
        x, native = _decode_native(Path(path), fmt, offset, duration)
    except CorruptAudio:
        if fmt is not None:
            raise
        # a few old libvorbis 1.0 files (klettres cs) hit an unimplemented FFmpeg path
        x, native = _decode_soundfile(Path(path), offset, duration)
    return resample(x, native, sr)


def _decode_native(path: Path, fmt: str | None, offset: float, duration: float | None) -> tuple[np.ndarray, int]:
    parts: list[np.ndarray] = []
    with AudioStream(path, sample_rate=None, format=fmt) as stream:
        native = stream.info.output_rate
        skip = round(offset * native)
        need = None if duration is None else round(duration * native)
        got = 0
        for chunk in stream:
            parts.append(chunk)
            got += chunk.size
            if need is not None and got >= skip + need:
                break  # the excerpt is complete: no need to decode the rest of the track
    x = np.concatenate(parts) if parts else np.zeros(0, np.float32)
    end = None if need is None else skip + need
    return np.ascontiguousarray(x[skip:end], dtype=np.float32), native


def _decode_soundfile(path: Path, offset: float, duration: float | None) -> tuple[np.ndarray, int]:
    import soundfile as sf

    x, native = sf.read(str(path), dtype="float32", always_2d=True)
    a = round(offset * native)
    b = None if duration is None else a + round(duration * native)
    return np.ascontiguousarray(x.mean(axis=1)[a:b]), int(native)


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


def edge_trim(x: np.ndarray, sr: int, keep_s: float = 0.08) -> np.ndarray:
    """Light trim that keeps a little of the recording's own room tone at each end."""
    if x.size == 0:
        return x
    import librosa

    _, (a, b) = librosa.effects.trim(x, top_db=50, frame_length=1024, hop_length=256)
    k = int(keep_s * sr)
    return x[max(0, a - k) : min(x.size, b + k)]


@dataclass(frozen=True)
class FilesSpec:
    """One or more files rendered as one recording.

    `mix`: sum the files (song stems); `pack`: trim and crossfade short clips of one speaker;
    otherwise concatenate. `offset`/`duration` cut an excerpt of each file (music).
    """

    paths: tuple[str, ...]
    fmt: str | None = None
    pack: bool = False
    offset: float | None = None
    duration: float | None = None
    mix: bool = False
    cost: float = FILES_COST

    def render(self, text: str, sr: int) -> np.ndarray:
        """Decode, cut and combine the files (`text` is unused: the recording is the content)."""
        offset = self.offset or 0.0
        sigs = [decode_file(p, sr, fmt=self.fmt, offset=offset, duration=self.duration) for p in self.paths]
        if not sigs:
            return np.zeros(0, np.float32)
        if self.mix:
            out = np.zeros(max(s.size for s in sigs), np.float32)
            for s in sigs:
                out[: s.size] += s
            return out
        if self.pack:
            return crossfade_concat([edge_trim(s, sr) for s in sigs], sr)
        return np.concatenate(sigs).astype(np.float32, copy=False)


@dataclass(frozen=True)
class ChannelVariants:
    """One recording shipped in several encodings (8 kHz wav, G.722): each item renders one.

    The choice is a function of the item key, so the variants are channel versions of one
    item (one split, one resume key), never separate items.
    """

    key: str
    variants: tuple[FilesSpec, ...]
    cost: float = FILES_COST

    @property
    def chosen(self) -> FilesSpec:
        """The variant this item renders."""
        return self.variants[stable_hash(self.key) % len(self.variants)]

    def render(self, text: str, sr: int) -> np.ndarray:
        """Render the chosen variant."""
        return self.chosen.render(text, sr)
