"""`acoustic`: interpretable voice and spectrum features and a small MLP over them.

Besides a score, these features are what a person can be told: how stable the
pitch is, how noisy the harmonics are, how coherent the phase is. The
explanation compares a file's features with the human and AI training
distributions stored in the bundle. Training lives in `train/detectors.py`.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from synthscope.config import SAMPLE_RATE
from synthscope.detect.base import resolve_device, to_tensor

NAME = "acoustic"
VERSION = "1.1"
CONSTANTS: dict[str, Any] = {
    "n_fft": 512,
    "hop": 256,
    "n_mels": 40,
    "n_mfcc": 20,
    "pitch_rate": 8000,
    "pitch_frame": 320,
    "pitch_hop": 160,
    "f0_min": 60.0,
    "f0_max": 400.0,
    "voicing_threshold": 0.45,
}
WEIGHTS = "acoustic.safetensors"
HIDDEN = 64  # the MLP's width in a bundle whose config does not record one
STATS = "acoustic_stats.json"

# Features a person can read, with how to say them (name, phrase, unit, format).
READABLE: dict[str, tuple[str, str, str]] = {
    "pitch_std_st": ("pitch variation", "semitones", "{:.1f}"),
    "jitter_pct": ("pitch jitter", "%", "{:.2f}"),
    "shimmer_pct": ("amplitude shimmer", "%", "{:.1f}"),
    "hnr_db": ("harmonics-to-noise ratio", "dB", "{:.1f}"),
    "voiced_share": ("voiced share", "", "{:.2f}"),
    "flatness_mean": ("spectral flatness", "", "{:.3f}"),
    "rms_db_std": ("loudness variation", "dB", "{:.1f}"),
    "phase_coh_high": ("high-band phase coherence", "", "{:.3f}"),
    "hf_energy_share": ("energy above 4 kHz", "", "{:.3f}"),
    "flux_mean": ("spectral flux", "", "{:.3f}"),
}


@lru_cache(maxsize=4)
def _mel_dct(device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    import librosa  # heavy import, only needed once per process
    from scipy.fft import dct

    mel = librosa.filters.mel(sr=SAMPLE_RATE, n_fft=CONSTANTS["n_fft"], n_mels=CONSTANTS["n_mels"])
    basis = dct(np.eye(CONSTANTS["n_mels"]), type=2, norm="ortho", axis=0)[: CONSTANTS["n_mfcc"]]
    return (
        torch.tensor(mel, dtype=torch.float32, device=device),
        torch.tensor(basis, dtype=torch.float32, device=device),
    )


def _stats(name: str, v: torch.Tensor, out: dict[str, torch.Tensor]) -> None:
    out[f"{name}_mean"] = v.mean(dim=-1)
    out[f"{name}_std"] = v.std(dim=-1)


def _masked_mean(v: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    return (v * m).sum(-1) / m.sum(-1).clamp_min(1.0)


def _pitch_features(x: torch.Tensor, out: dict[str, torch.Tensor]) -> None:
    """Frame-level autocorrelation pitch: voicing, stability, jitter, shimmer, HNR."""
    # Pitch lives below 400 Hz: halve the rate first (pair average) to quarter the FFT work.
    sr = CONSTANTS["pitch_rate"]
    x = 0.5 * (x[:, 0:-1:2] + x[:, 1::2])
    frame, hop = CONSTANTS["pitch_frame"], CONSTANTS["pitch_hop"]
    frames = x.unfold(1, frame, hop)  # [B, T, frame]
    frames = frames - frames.mean(-1, keepdim=True)
    hann = torch.hann_window(frame, device=x.device)
    spec = torch.fft.rfft(frames * hann, n=2 * frame)
    ac = torch.fft.irfft(spec.real.square() + spec.imag.square(), n=2 * frame)[..., :frame]
    energy = ac[..., 0].clamp_min(1e-9)
    # Divide out the window's own autocorrelation (Boersma 1993) so a periodic frame peaks near 1.
    wspec = torch.fft.rfft(hann, n=2 * frame)
    wac = torch.fft.irfft(wspec.real.square() + wspec.imag.square(), n=2 * frame)[:frame]
    ac = ac / (wac / wac[0]).clamp_min(1e-3)
    lag_lo = int(sr / CONSTANTS["f0_max"])
    lag_hi = int(sr / CONSTANTS["f0_min"])
    norm_ac = ac[..., lag_lo:lag_hi] / energy.unsqueeze(-1)
    peak = norm_ac.amax(dim=-1)
    # Shortest lag close to the best one: avoids locking onto a multiple of the period (octave errors).
    lag = (norm_ac >= 0.85 * peak.unsqueeze(-1)).int().argmax(dim=-1)
    lag = (lag + lag_lo).float()
    amp = energy.sqrt()
    loud = amp > amp.amax(dim=1, keepdim=True) * 0.05
    voiced = ((peak > CONSTANTS["voicing_threshold"]) & loud).float()
    out["voiced_share"] = voiced.mean(-1)
    semitones = 12 * torch.log2(sr / lag / 100.0)
    st_mean = _masked_mean(semitones, voiced)
    out["pitch_std_st"] = _masked_mean((semitones - st_mean.unsqueeze(-1)).square(), voiced).sqrt()
    pair = voiced[:, 1:] * voiced[:, :-1]
    out["jitter_pct"] = 100 * _masked_mean((lag[:, 1:] - lag[:, :-1]).abs() / lag[:, :-1], pair)
    out["shimmer_pct"] = 100 * _masked_mean((amp[:, 1:] - amp[:, :-1]).abs() / amp[:, :-1].clamp_min(1e-9), pair)
    r = peak.clamp(1e-3, 0.999)
    out["hnr_db"] = _masked_mean(10 * torch.log10(r / (1 - r)), voiced)


def features(windows: np.ndarray, device: torch.device | None = None) -> tuple[np.ndarray, list[str]]:
    """[B, N] audio -> ([B, F] features, names). Everything batched on one STFT."""
    device = device or torch.device("cpu")
    x = to_tensor(windows, device)
    n_fft, hop = CONSTANTS["n_fft"], CONSTANTS["hop"]
    out: dict[str, torch.Tensor] = {}
    with torch.inference_mode():
        spec = torch.stft(
            x, n_fft, hop, window=torch.hann_window(n_fft, device=device), center=True, return_complex=True
        )
        power = spec.real.square() + spec.imag.square() + 1e-12  # [B, F, T]
        mel, dct = _mel_dct(device)
        logmel = torch.log(torch.einsum("mf,bft->bmt", mel, power) + 1e-8)
        mfcc = torch.einsum("cm,bmt->bct", dct, logmel)
        # Dynamics only: MFCC *means* encode who is speaking and which channel, which lets a model
        # learn speakers instead of synthesis (the first model called a held-out human speaker AI).
        for i in range(CONSTANTS["n_mfcc"]):
            out[f"mfcc{i}_std"] = mfcc[:, i].std(-1)
            out[f"dmfcc{i}_std"] = (mfcc[:, i, 1:] - mfcc[:, i, :-1]).std(-1)
        freqs = torch.linspace(0, SAMPLE_RATE / 2, power.shape[1], device=device).unsqueeze(-1)
        total = power.sum(1)
        centroid = (power * freqs).sum(1) / total
        _stats("centroid", centroid / 1000, out)
        _stats("bandwidth", ((power * (freqs - centroid.unsqueeze(1)).square()).sum(1) / total).sqrt() / 1000, out)
        cum = power.cumsum(1) / total.unsqueeze(1)
        _stats("rolloff", (cum < 0.85).sum(1).float() * (SAMPLE_RATE / n_fft) / 1000, out)
        flat = torch.exp(torch.log(power).mean(1)) / power.mean(1)
        _stats("flatness", flat, out)
        lp = torch.log10(power)
        _stats("flux", (lp[..., 1:] - lp[..., :-1]).clamp_min(0).mean(1), out)
        bands = [(0, 500), (500, 1000), (1000, 2000), (2000, 4000), (4000, 8000)]
        bin_hz = SAMPLE_RATE / n_fft
        for lo, hi in bands:
            sub = lp[:, int(lo / bin_hz) : int(hi / bin_hz) + 1]
            out[f"contrast_{lo}"] = (sub.amax(dim=1) - sub.mean(dim=1)).mean(-1)  # peak-to-mean, in log10 units
        out["hf_energy_share"] = (power[:, int(4000 / bin_hz) :].sum(1) / total).mean(-1)
        rms_db = 10 * torch.log10(power.mean(1))
        out["rms_db_std"] = rms_db.std(-1)
        signs = torch.sign(x)
        out["zcr"] = (signs[:, 1:] != signs[:, :-1]).float().mean(-1)
        # Phase coherence: how consistently each bin's phase advances frame to frame.
        unit = spec / power.sqrt()
        k = torch.arange(power.shape[1], device=device, dtype=torch.float32).unsqueeze(-1)
        expected = torch.polar(torch.ones_like(k), -2 * torch.pi * k * hop / n_fft)
        step = unit[..., 1:] * unit[..., :-1].conj() * expected  # phase advance beyond the bin's own
        weight = power[..., 1:]
        coh = (step * weight).sum(-1).abs() / weight.sum(-1)  # [B, F]
        nb = power.shape[1]
        out["phase_coh_low"] = coh[:, 1 : nb // 4].mean(-1)
        out["phase_coh_mid"] = coh[:, nb // 4 : nb // 2].mean(-1)
        out["phase_coh_high"] = coh[:, nb // 2 :].mean(-1)
        _pitch_features(x, out)
    names = list(out)
    mat = torch.stack([out[n] for n in names], dim=1).float().cpu().numpy()
    return np.nan_to_num(mat, nan=0.0, posinf=0.0, neginf=0.0), names


class AcousticNet(nn.Module):
    mean: torch.Tensor
    scale: torch.Tensor

    def __init__(self, n_in: int, hidden: int = HIDDEN) -> None:
        super().__init__()
        self.hidden = hidden
        self.register_buffer("mean", torch.zeros(n_in))
        self.register_buffer("scale", torch.ones(n_in))
        self.mlp = nn.Sequential(
            nn.Linear(n_in, hidden),
            nn.ReLU(),
            nn.Dropout(0.2),
            nn.Linear(hidden, hidden),
            nn.ReLU(),
            nn.Linear(hidden, 1),
        )

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        return self.mlp((f - self.mean) / self.scale).squeeze(1)


class AcousticDetector:
    name = NAME
    version = VERSION

    def __init__(self, net: AcousticNet, names: list[str], stats: dict[str, Any], device: str = "auto") -> None:
        self.device = resolve_device(device)
        self.net = net.to(self.device).eval()
        self.names = names
        self.stats = stats  # per-feature {"human": [mean, std], "ai": [mean, std]}

    def features(self, windows: np.ndarray) -> np.ndarray:
        return features(windows, self.device)[0]

    @torch.inference_mode()
    def predict_features(self, feats: np.ndarray) -> np.ndarray:
        return torch.sigmoid(self.net(to_tensor(feats, self.device))).float().cpu().numpy()

    def predict(self, windows: np.ndarray) -> np.ndarray:
        return self.predict_features(self.features(windows))

    def explain(self, mean_features: np.ndarray, ai_probability: float, limit: int = 3) -> list[str]:
        """Sentences for the readable features whose value most favours the verdict's side."""
        side = "ai" if ai_probability >= 0.5 else "human"
        other = "human" if side == "ai" else "ai"
        scored: list[tuple[float, str]] = []
        for key, (label, unit, fmt) in READABLE.items():
            if key not in self.names or key not in self.stats:
                continue
            v = float(mean_features[self.names.index(key)])
            (m_s, s_s), (m_o, s_o) = self.stats[key][side], self.stats[key][other]
            # Log-likelihood ratio under two Gaussians: how much this value points to `side`.
            llr = _gauss_ll(v, m_s, s_s) - _gauss_ll(v, m_o, s_o)
            hm, hs = self.stats[key]["human"]
            if llr <= 0.5 or abs(v - hm) < 0.25 * hs:
                continue
            relation = "higher" if v > hm else "lower"
            u = f" {unit}" if unit else ""
            text = (
                f"{label[0].upper() + label[1:]} is {fmt.format(v)}{u}, {relation} than typical human recordings "
                f"({fmt.format(hm)}{u}); this points to {'AI' if side == 'ai' else 'a human'}."
            )
            scored.append((llr, text))
        return [t for _, t in sorted(scored, reverse=True)[:limit]]

    def save(self, directory: Path) -> dict[str, Any]:
        save_file(
            {k: v.detach().cpu().contiguous() for k, v in self.net.state_dict().items()}, str(directory / WEIGHTS)
        )
        (directory / STATS).write_text(json.dumps({"names": self.names, "stats": self.stats}, indent=1))
        config: dict[str, Any] = {"constants": CONSTANTS, "n_features": len(self.names)}
        if self.net.hidden != HIDDEN:
            config["hidden"] = self.net.hidden
        return {"files": [WEIGHTS, STATS], "config": config}

    @classmethod
    def load(cls, directory: Path, config: dict[str, Any], device: str = "auto") -> AcousticDetector:
        meta = json.loads((directory / STATS).read_text())
        net = AcousticNet(int(config["n_features"]), int(config.get("hidden", HIDDEN)))
        net.load_state_dict(load_file(str(directory / WEIGHTS)), strict=True)
        return cls(net, meta["names"], meta["stats"], device)


def _gauss_ll(v: float, m: float, s: float) -> float:
    return -0.5 * ((v - m) / s) ** 2 - float(np.log(s))
