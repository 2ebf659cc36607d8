"""Streaming decode with PyAV: any container in, 16 kHz mono float32 chunks out.

Decoding is a generator so a six-hour file never sits in memory: the caller
pulls chunks, cuts windows and lets them go. The corpus builder uses the same decoder
with another output rate (or the file's own, to resample with soxr like the TTS path) and
a forced demuxer for headerless streams such as raw G.722.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import av
import numpy as np

from synthscope.config import SAMPLE_RATE
from synthscope.errors import AudioTooLong, CorruptAudio

#: Give up on a file when more than this share of its packets fail to decode.
MAX_BAD_PACKET_SHARE = 0.2


#: A float sample beyond this many times full scale is not audio (a header or data lie), nor is a non-finite one.
INVALID_LEVEL = 16.0
#: Below this a stream is no audio we can judge (telephone speech is 8 kHz); a header claiming 2 Hz is a lie that
#: would make the resampler multiply each frame 8000-fold (a 1 KB file asked for gigabytes).
MIN_SAMPLE_RATE = 4000


@dataclass
class StreamInfo:
    """What the container says about itself, filled in as soon as it is opened."""

    format: str
    sample_rate: int
    channels: int
    declared_duration_s: float | None
    decoded_samples: int = 0  # at output_rate, grows while streaming
    bad_packets: int = 0
    packets: int = 0
    invalid_samples: int = 0  # non-finite, or beyond ±INVALID_LEVEL full scale: set to 0 / clipped
    extra: dict[str, str] = field(default_factory=dict)
    output_rate: int = SAMPLE_RATE  # the rate chunks are emitted at

    @property
    def duration_s(self) -> float:
        return self.decoded_samples / self.output_rate


def file_sha256(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


class AudioStream:
    """An opened audio file. Iterate it for float32 mono chunks at 16 kHz (or `sample_rate`).

    `sample_rate=None` keeps the file's own rate; `format` forces a demuxer (e.g. "g722").
    """

    def __init__(
        self,
        source: Path | BinaryIO,
        *,
        max_duration_s: float | None = None,
        sample_rate: int | None = SAMPLE_RATE,
        format: str | None = None,  # PyAV's own name for the demuxer
    ) -> None:
        try:
            self._container = av.open(str(source) if isinstance(source, Path) else source, mode="r", format=format)
        except (av.error.FFmpegError, UnicodeDecodeError, ValueError) as exc:
            raise CorruptAudio(f"cannot open the audio container: {exc}") from None
        if not self._container.streams.audio:
            self._container.close()
            raise CorruptAudio("the file contains no audio stream")
        self._stream = self._container.streams.audio[0]
        ctx = self._stream.codec_context
        if ctx is None:  # e.g. a WAV whose format tag no decoder knows
            self._container.close()
            raise CorruptAudio("the audio codec is unknown or unsupported")
        declared = None
        if self._stream.duration is not None and self._stream.time_base is not None:
            declared = float(self._stream.duration * self._stream.time_base)
        elif self._container.duration is not None:
            declared = self._container.duration / av.time_base
        native = int(ctx.sample_rate or 0)
        if 0 < native < MIN_SAMPLE_RATE:
            self._container.close()
            raise CorruptAudio(
                f"a sample rate of {native} Hz is not audio that can be analysed (min {MIN_SAMPLE_RATE})"
            )
        rate = sample_rate or native or SAMPLE_RATE
        self._max_samples = None if max_duration_s is None else int(max_duration_s * rate)
        self._max_input_s = max_duration_s
        self._input_s = 0.0  # decoded duration before resampling: checked before a frame is resampled
        self.info = StreamInfo(
            format=self._container.format.name.split(",")[0],
            sample_rate=native,
            channels=int(ctx.channels or 0),
            declared_duration_s=declared,
            output_rate=rate,
        )
        if self._max_samples is not None and declared is not None and declared > max_duration_s + 1.0:  # type: ignore[operator]
            self.close()
            raise AudioTooLong(f"the audio lasts {declared:.0f} s; the limit is {max_duration_s:.0f} s")
        self._resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)

    def __enter__(self) -> AudioStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._container.close()

    def __iter__(self) -> Iterator[np.ndarray]:
        try:
            for packet in self._container.demux(self._stream):
                if packet.size == 0:
                    continue
                self.info.packets += 1
                try:
                    frames = packet.decode()
                except (av.error.InvalidDataError, av.error.UndefinedError, ValueError):
                    self.info.bad_packets += 1
                    self._check_bad_share()
                    continue
                for frame in frames:
                    self._check_input(frame)
                    yield from self._emit(self._resample(frame))
            yield from self._emit(self._resampler.resample(None))
        except av.error.FFmpegError as exc:
            raise CorruptAudio(f"decoding failed after {self.info.duration_s:.1f} s: {exc}") from None
        if self.info.decoded_samples == 0:
            raise CorruptAudio("no audio could be decoded from the file")
        self._check_bad_share(final=True)

    def _check_input(self, frame: av.AudioFrame) -> None:
        """Stop at the limit before a frame is resampled: one frame of a lying file can hold hours."""
        if self._max_input_s is None:
            return
        self._input_s += frame.samples / max(int(frame.sample_rate or 0), 1)
        if self._input_s > self._max_input_s + 1.0:
            raise AudioTooLong(f"the audio lasts more than {self._max_input_s:.0f} s, the limit")

    def _resample(self, frame: av.AudioFrame) -> list[av.AudioFrame]:
        """A stream may change layout or rate mid-way (concatenated or damaged files): then flush the
        old resampler and start a new one for the new setup; a frame that still does not fit is corrupt."""
        try:
            return list(self._resampler.resample(frame))
        except ValueError:
            flushed = list(self._resampler.resample(None))
            self._resampler = av.AudioResampler(format="flt", layout="mono", rate=self.info.output_rate)
            try:
                return flushed + list(self._resampler.resample(frame))
            except ValueError as exc:
                raise CorruptAudio(f"an audio frame cannot be converted: {exc}") from None

    def _emit(self, frames: list[av.AudioFrame]) -> Iterator[np.ndarray]:
        for out in frames:
            pcm = out.to_ndarray().reshape(-1).astype(np.float32, copy=False)
            bad = ~np.isfinite(pcm) | (np.abs(pcm) > INVALID_LEVEL)
            if bad.any():  # float formats can carry NaN/Inf or absurd values: count them, never pass them on
                self.info.invalid_samples += int(bad.sum())
                pcm = np.clip(np.nan_to_num(pcm, nan=0.0, posinf=0.0, neginf=0.0), -1.0, 1.0)
            self.info.decoded_samples += pcm.size
            rate = self.info.output_rate
            if self._max_samples is not None and self.info.decoded_samples > self._max_samples + rate:
                raise AudioTooLong(f"the audio lasts more than {self._max_samples / rate:.0f} s, the limit")
            yield pcm

    def _check_bad_share(self, final: bool = False) -> None:
        p, bad = self.info.packets, self.info.bad_packets
        if (final or p >= 50) and p and bad / p > MAX_BAD_PACKET_SHARE:
            raise CorruptAudio(f"{bad} of {p} audio packets are corrupt")


def decode_all(
    source: Path | BinaryIO,
    *,
    max_duration_s: float | None = None,
    sample_rate: int | None = SAMPLE_RATE,
    format: str | None = None,  # PyAV's own name for the demuxer
) -> np.ndarray:
    """Whole file as one array: for short clips (training, tests), never for uploads."""
    with AudioStream(source, max_duration_s=max_duration_s, sample_rate=sample_rate, format=format) as stream:
        chunks = list(stream)
    return np.concatenate(chunks) if chunks else np.zeros(0, np.float32)
