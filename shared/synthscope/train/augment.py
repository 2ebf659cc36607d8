"""Debiasing chain applied identically to human and AI clips.

Every training clip, whatever its label, goes through the same random distribution of
trim / loudness / room reverb / band-limit / noise / codec, so sample rate, codec, silence and level stop
being shortcuts for the label (DESIGN §6, corpus-sources.md "Traps").  All audio is 16 kHz mono
float32.  Codec round-trips use PyAV in memory: no temp files, no subprocess.
"""

from __future__ import annotations

import io
from typing import Any

import av
import numpy as np
from scipy import signal

SR = 16_000
#: The four evaluation conditions; `apply_codec` accepts exactly these.
EVAL_CODECS: tuple[str, ...] = ("wav", "mp3_64k", "opus_24k", "tel_8k")

_LOWPASS_CHOICES: tuple[int | None, ...] = (None, 7000, 5500, 4000)
_LOWPASS_P = (0.4, 0.2, 0.2, 0.2)
_CODEC_CHOICES = ("wav", "mp3", "opus", "tel_8k")
_CODEC_P = (0.35, 0.28, 0.22, 0.15)
_MP3_KBPS = (32, 48, 64, 96, 128)
#: Share of clips played through a synthetic room, and the range of its RT60 (seconds).
_REVERB_P = 0.3
_RT60_RANGE = (0.15, 0.8)
_OPUS_KBPS = (12, 16, 24, 32, 48)


def to_mono_16k(x: np.ndarray, sr: int) -> np.ndarray:
    """Downmix (channels first or last) and resample to 16 kHz float32."""
    x = np.asarray(x, dtype=np.float32)
    if x.ndim == 2:
        x = x.mean(axis=0 if x.shape[0] < x.shape[1] else 1)
    if sr != SR:
        import librosa

        x = librosa.resample(x, orig_sr=sr, target_sr=SR, res_type="soxr_hq")
    return np.ascontiguousarray(x, dtype=np.float32)


def trim_silence(x: np.ndarray, top_db: float = 45.0) -> np.ndarray:
    """Cut leading/trailing silence (TTS has exact digital silence; humans have room tone)."""
    if x.size == 0:
        return x
    import librosa

    y, _ = librosa.effects.trim(x, top_db=top_db, frame_length=1024, hop_length=256)
    return np.ascontiguousarray(y, dtype=np.float32)


def rms_db(x: np.ndarray) -> float:
    """RMS level in dBFS (−inf-safe)."""
    return float(10.0 * np.log10(np.mean(np.square(x, dtype=np.float64)) + 1e-12))


def normalise_loudness(x: np.ndarray, target_db: float) -> np.ndarray:
    """Scale to an RMS target, then keep peaks below 0.99 so no class gets clipped more."""
    if x.size == 0:
        return x
    y = x * np.float32(10.0 ** ((target_db - rms_db(x)) / 20.0))
    peak = float(np.max(np.abs(y)))
    if peak > 0.99:
        y = y * np.float32(0.99 / peak)
    return y.astype(np.float32)


def lowpass(x: np.ndarray, cutoff_hz: float, sr: int = SR) -> np.ndarray:
    """Zero-phase 8th-order Butterworth low-pass (random band-limit for both classes)."""
    sos = signal.butter(8, cutoff_hz, btype="lowpass", fs=sr, output="sos")
    return signal.sosfiltfilt(sos, x).astype(np.float32)


def bandpass(x: np.ndarray, lo_hz: float, hi_hz: float, sr: int) -> np.ndarray:
    """Zero-phase band-pass used for the telephone band."""
    sos = signal.butter(6, [lo_hz, hi_hz], btype="bandpass", fs=sr, output="sos")
    return signal.sosfiltfilt(sos, x).astype(np.float32)


def add_noise(x: np.ndarray, snr_db: float, rng: np.random.Generator, colour: str = "white") -> np.ndarray:
    """Add white or pink noise at an SNR relative to the clip's own RMS (masks digital silence)."""
    n = rng.standard_normal(x.size).astype(np.float32)
    if colour == "pink":
        spec = np.fft.rfft(n)
        f = np.arange(spec.size, dtype=np.float64)
        f[0] = 1.0
        n = np.fft.irfft(spec / np.sqrt(f), n=x.size).astype(np.float32)
    sig = 10.0 ** (rms_db(x) / 20.0)
    nrms = float(np.sqrt(np.mean(np.square(n, dtype=np.float64)))) + 1e-12
    return (x + n * np.float32(sig / (10.0 ** (snr_db / 20.0)) / nrms)).astype(np.float32)


def _fit_length(y: np.ndarray, n: int) -> np.ndarray:
    """Crop or edge-pad a decoded signal to the input length (codec delay/padding)."""
    if y.size >= n:
        return y[:n]
    return np.pad(y, (0, n - y.size), mode="edge") if y.size else np.zeros(n, np.float32)


def codec_roundtrip(x: np.ndarray, codec: str, bitrate: int, sr: int = SR) -> np.ndarray:
    """Encode then decode mono float audio with PyAV in memory; returns float32 at `sr`.

    `codec` is a PyAV encoder name ('libmp3lame', 'libopus', 'pcm_mulaw').
    """
    fmt = {"libmp3lame": "mp3", "libopus": "ogg", "pcm_mulaw": "wav"}[codec]
    enc_rate = 48_000 if codec == "libopus" and sr not in (8000, 12000, 16000, 24000, 48000) else sr
    buf = io.BytesIO()
    with av.open(buf, mode="w", format=fmt) as out:
        stream = out.add_stream(codec, rate=enc_rate, layout="mono")
        assert isinstance(stream, av.audio.stream.AudioStream)
        if bitrate:
            stream.bit_rate = bitrate
        ctx = stream.codec_context
        pcm = np.clip(x, -1.0, 1.0).astype(np.float32)
        resampler = av.AudioResampler(
            format=ctx.format.name, layout="mono", rate=enc_rate, frame_size=ctx.frame_size or 1024
        )
        src = av.AudioFrame.from_ndarray(pcm[None, :], format="flt", layout="mono")
        src.sample_rate = sr
        for fr in [*resampler.resample(src), *resampler.resample(None)]:
            for pkt in stream.encode(fr):
                out.mux(pkt)
        for pkt in stream.encode(None):
            out.mux(pkt)
    buf.seek(0)
    parts: list[np.ndarray] = []
    with av.open(buf, mode="r", format=fmt) as inp:
        dec = av.AudioResampler(format="flt", layout="mono", rate=sr)
        for frame in inp.decode(audio=0):
            for f in dec.resample(frame):
                parts.append(f.to_ndarray().reshape(-1))
        for f in dec.resample(None):
            parts.append(f.to_ndarray().reshape(-1))
    y = np.concatenate(parts).astype(np.float32) if parts else np.zeros(0, np.float32)
    return _fit_length(y, x.size)


def room_impulse_response(rt60_s: float, rng: np.random.Generator, sr: int = SR) -> np.ndarray:
    """Synthetic room: a direct path, a few early reflections and an exponentially decaying diffuse tail.

    Decay is 60 dB over `rt60_s` (Sabine's definition); the tail is filtered noise, which is how
    statistical room models (and most reverb augmentation in anti-spoofing work) approximate a
    real room without measured responses.
    """
    n = max(int(rt60_s * sr), 16)
    t = np.arange(n) / sr
    tail = rng.standard_normal(n) * np.exp(-6.9078 * t / rt60_s)  # ln(1000) = 60 dB in amplitude
    tail = signal.lfilter([1.0], [1.0, -float(rng.uniform(0.3, 0.8))], tail)  # walls absorb highs
    h = 0.3 * tail / (np.sqrt(np.sum(tail**2)) + 1e-9)
    h[0] = 1.0
    for _ in range(int(rng.integers(2, 6))):  # early reflections in the first 30 ms
        k = int(rng.integers(int(0.002 * sr), int(0.03 * sr)))
        if k < n:
            h[k] += float(rng.uniform(0.1, 0.5)) * (1 if rng.random() < 0.5 else -1)
    return (h / np.sqrt(np.sum(h**2))).astype(np.float32)


def room_reverb(x: np.ndarray, rt60_s: float, rng: np.random.Generator, sr: int = SR) -> np.ndarray:
    """Play x through a synthetic room of the given RT60, keeping its length and level."""
    if x.size == 0:
        return x
    y = signal.fftconvolve(x, room_impulse_response(rt60_s, rng, sr))[: x.size]
    return normalise_loudness(np.asarray(y, np.float32), rms_db(x))


def telephone(x: np.ndarray, sr: int = SR) -> np.ndarray:
    """8 kHz narrowband telephone: 300–3400 Hz, G.711 µ-law round-trip, back to 16 kHz."""
    import librosa

    y = librosa.resample(x, orig_sr=sr, target_sr=8000, res_type="soxr_hq")
    y = bandpass(y, 300.0, 3400.0, 8000)
    y = codec_roundtrip(y, "pcm_mulaw", 0, sr=8000)
    y = librosa.resample(y, orig_sr=8000, target_sr=sr, res_type="soxr_hq")
    return _fit_length(np.asarray(y, np.float32), x.size)


def apply_codec(x: np.ndarray, codec: str) -> np.ndarray:
    """Apply one of the evaluation conditions ('wav', 'mp3_64k', 'opus_24k', 'tel_8k') at 16 kHz."""
    x = np.asarray(x, dtype=np.float32)
    if codec == "wav":
        return x.copy()
    if codec == "mp3_64k":
        return codec_roundtrip(x, "libmp3lame", 64_000)
    if codec == "opus_24k":
        return codec_roundtrip(x, "libopus", 24_000)
    if codec == "tel_8k":
        return telephone(x)
    raise ValueError(f"unknown codec {codec!r}; expected one of {EVAL_CODECS}")


def random_eq(x: np.ndarray, rng: np.random.Generator, bands: int = 10, max_db: float = 6.0) -> np.ndarray:
    """A random smooth EQ curve (±max_db at `bands` knots, linear in frequency): the linear-filter
    part of RawBoost, a microphone or line the corpus never had."""
    if x.size < 64:
        return x
    spec = np.fft.rfft(x)
    knots = rng.uniform(-max_db, max_db, bands)
    curve = np.interp(np.linspace(0.0, 1.0, spec.size), np.linspace(0.0, 1.0, bands), knots)
    y = np.fft.irfft(spec * 10.0 ** (curve / 20.0), n=x.size).astype(np.float32)
    return normalise_loudness(y, rms_db(x))


def channel_augment(x: np.ndarray, seed: int) -> np.ndarray:
    """A second, independent channel for a training clip: random EQ, then the corpus chain's
    loudness / reverb / band-limit / noise / codec draws (no trimming, so windows stay aligned).
    Seeded by the caller (the benchmark: by the clip's content), so it is reproducible."""
    rng = np.random.default_rng(seed)
    y = random_eq(np.asarray(x, np.float32), rng)
    y, _ = augment(y, rng, trim=False)
    return _fit_length(y, x.size)


def augment(x: np.ndarray, rng: np.random.Generator, *, trim: bool = True) -> tuple[np.ndarray, dict[str, Any]]:
    """Random trim → loudness → room reverb → band-limit → noise → codec on 16 kHz mono audio.

    Returns the new signal and a record of what was applied ('codec' is one of
    'wav', 'mp3_<k>k', 'opus_<k>k', 'tel_8k').  Draws come from `rng` only, so both classes
    see exactly the same distribution.
    """
    y = np.asarray(x, dtype=np.float32)
    y = trim_silence(y) if trim else y
    info: dict[str, Any] = {}
    target = float(rng.uniform(-32.0, -16.0))
    y = normalise_loudness(y, target)
    info["target_db"] = round(target, 1)

    if rng.random() < _REVERB_P and y.size:
        rt60 = float(rng.uniform(*_RT60_RANGE))
        y = room_reverb(y, rt60, rng)
        info["rt60_s"] = round(rt60, 2)
    else:
        info["rt60_s"] = 0.0

    cutoff = _LOWPASS_CHOICES[int(rng.choice(len(_LOWPASS_CHOICES), p=_LOWPASS_P))]
    if cutoff is not None and y.size > 64:
        y = lowpass(y, cutoff)
    info["lowpass_hz"] = cutoff or 0

    if rng.random() < 0.8 and y.size:
        snr = float(rng.uniform(20.0, 50.0))
        colour = "pink" if rng.random() < 0.5 else "white"
        y = add_noise(y, snr, rng, colour)
        info["snr_db"], info["noise"] = round(snr, 1), colour
    else:
        info["snr_db"], info["noise"] = None, "none"

    kind = _CODEC_CHOICES[int(rng.choice(len(_CODEC_CHOICES), p=_CODEC_P))]
    if kind == "mp3":
        kbps = int(rng.choice(_MP3_KBPS))
        y = codec_roundtrip(y, "libmp3lame", kbps * 1000)
        info["codec"] = f"mp3_{kbps}k"
    elif kind == "opus":
        kbps = int(rng.choice(_OPUS_KBPS))
        y = codec_roundtrip(y, "libopus", kbps * 1000)
        info["codec"] = f"opus_{kbps}k"
    elif kind == "tel_8k":
        y = telephone(y)
        info["codec"] = "tel_8k"
    else:
        info["codec"] = "wav"

    peak = float(np.max(np.abs(y))) if y.size else 0.0
    if peak > 0.999:
        y = y * np.float32(0.999 / peak)
    return y.astype(np.float32), info
