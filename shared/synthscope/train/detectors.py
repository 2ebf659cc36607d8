"""Fitting the trained detectors (`acoustic`, `spectro_cnn`, `fakeprint`): their hyper-parameters and entry points.

Every hyper-parameter of each detector lives in its frozen params class (`AcousticParams`,
`SpectroCNNParams`); both train through `train/trainer.fit_loop`. `fit_acoustic` and `fit_spectro_cnn` take waveform
windows (what `train/fit.py` ships) or the detector's cached features (what the benchmark's heads
refit per fold), so the benchmark measures what ships.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from synthscope.detect.acoustic import HIDDEN, READABLE, AcousticDetector, AcousticNet, features
from synthscope.detect.base import resolve_device, to_tensor
from synthscope.detect.fakeprint import FakeprintDetector, residue
from synthscope.detect.spectro_cnn import SpectroCNNDetector, SpectroNet, spec_tensor
from synthscope.train.trainer import OnEpoch, Optim, balanced_bce, fit_loop, shuffled_batches, steps_per_epoch

#: Windows per feature-extraction call when fitting `acoustic` from waveforms (memory, not the model).
FEATURE_CHUNK = 256


@dataclass(frozen=True)
class AcousticParams:
    """The acoustic MLP's recipe: constant-rate AdamW on class-weighted BCE, trained on CPU."""

    epochs: int = 60
    batch_size: int = 128
    lr: float = 2e-3
    weight_decay: float = 1e-2
    hidden: int = HIDDEN  # the MLP's width (64)


@dataclass(frozen=True)
class SpectroCNNParams:
    """The spectrogram CNN's recipe: one-cycle AdamW on class-weighted BCE, with a random circular
    shift of each batch (the same window at other phases of the STFT grid)."""

    epochs: int = 8
    batch_size: int = 64
    lr: float = 2e-3
    weight_decay: float = 1e-3
    width: int = 16


@dataclass(frozen=True)
class FakeprintParams:
    """The fakeprint head's recipe: a class-balanced, strongly regularised logistic regression on the residue."""

    c: float = 0.05  # inverse L2 strength
    max_iter: int = 2000


ACOUSTIC = AcousticParams()
SPECTRO_CNN = SpectroCNNParams()
FAKEPRINT = FakeprintParams()


def fit_fakeprint(
    windows: np.ndarray, labels: np.ndarray, params: FakeprintParams = FAKEPRINT, *, seed: int = 0
) -> FakeprintDetector:
    """From waveform windows (the residue is computed in chunks)."""
    feats = np.concatenate([residue(windows[i : i + FEATURE_CHUNK]) for i in range(0, len(windows), FEATURE_CHUNK)])
    return fit_fakeprint_features(feats, labels, params, seed=seed)


def fit_fakeprint_features(
    feats: np.ndarray, labels: np.ndarray, params: FakeprintParams = FAKEPRINT, *, seed: int = 0
) -> FakeprintDetector:
    """From precomputed `residue` rows, so a refit need not recompute the STFTs."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(feats)
    lr = LogisticRegression(C=params.c, max_iter=params.max_iter, random_state=seed, class_weight="balanced")
    lr.fit(scaler.transform(feats), labels)
    scale = np.where(scaler.scale_ > 0, scaler.scale_, 1.0)
    return FakeprintDetector(
        scaler.mean_.astype(np.float32),
        scale.astype(np.float32),
        lr.coef_[0].astype(np.float32),
        float(lr.intercept_[0]),
    )


def fit_acoustic(
    x: np.ndarray,
    labels: np.ndarray,
    params: AcousticParams = ACOUSTIC,
    *,
    names: list[str] | None = None,
    seed: int = 0,
    device: str = "auto",
    on_epoch: OnEpoch | None = None,
) -> AcousticDetector:
    """Fit `acoustic` on waveform windows [N, samples] or, given their column `names`, on its feature
    rows [N, F] (the benchmark's cache). It trains on CPU; `device` is where it predicts."""
    if names is None:
        feats = np.concatenate([features(x[i : i + FEATURE_CHUNK])[0] for i in range(0, len(x), FEATURE_CHUNK)])
        names = features(x[:1])[1]
    else:
        feats = x
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    net = AcousticNet(feats.shape[1], params.hidden)
    net.mean.copy_(torch.from_numpy(feats.mean(0)))
    net.scale.copy_(torch.from_numpy(np.where(feats.std(0) > 1e-6, feats.std(0), 1.0)))
    loss_fn = balanced_bce(labels, torch.device("cpu"))
    xt, yt = torch.from_numpy(feats.astype(np.float32)), torch.from_numpy(labels.astype(np.float32))
    fit_loop(
        net,
        shuffled_batches(len(xt), params.batch_size, rng),
        lambda idx: loss_fn(net(xt[idx]), yt[idx]),
        Optim(params.epochs, params.lr, params.weight_decay),
        on_epoch,
    )
    return AcousticDetector(net, names, readable_stats(feats, names, labels), device)


def readable_stats(feats: np.ndarray, names: list[str], labels: np.ndarray) -> dict[str, Any]:
    """Per readable feature, {"human": [mean, std], "ai": [mean, std]} (what `explain` compares to)."""
    stats: dict[str, Any] = {}
    for j, n in enumerate(names):
        if n in READABLE:
            stats[n] = {
                side: [float(feats[labels == v, j].mean()), float(feats[labels == v, j].std() + 1e-6)]
                for side, v in (("human", 0), ("ai", 1))
            }
    return stats


def fit_spectro_cnn(
    x: np.ndarray,
    labels: np.ndarray,
    params: SpectroCNNParams = SPECTRO_CNN,
    *,
    seed: int = 0,
    device: str = "auto",
    on_epoch: OnEpoch | None = None,
) -> SpectroCNNDetector:
    """Fit `spectro_cnn` on waveform windows [N, samples] or on cached `log_spectrogram` rows [N, F, T].

    Each batch is circularly shifted by a random number of samples (windows) or frames (spectrograms).
    """
    if x.ndim not in (2, 3):
        raise ValueError(f"expected windows [N, samples] or spectrograms [N, F, T], got shape {x.shape}")
    torch.manual_seed(seed)
    dev = resolve_device(device)
    net = SpectroNet(params.width).to(dev)
    rng = np.random.default_rng(seed)
    loss_fn = balanced_bce(labels, dev)
    y_all = torch.from_numpy(labels.astype(np.float32))

    def logits(idx: np.ndarray, shift: int) -> torch.Tensor:
        if x.ndim == 2:
            return net(to_tensor(np.roll(x[idx], shift, axis=1), dev))
        return net.forward_spectrogram(spec_tensor(np.roll(x[idx], shift, -1), dev))

    fit_loop(
        net,
        shuffled_batches(len(labels), params.batch_size, rng),
        lambda idx: loss_fn(logits(idx, int(rng.integers(0, x.shape[-1]))), y_all[idx].to(dev)),
        Optim(
            params.epochs,
            params.lr,
            params.weight_decay,
            params.epochs * steps_per_epoch(len(labels), params.batch_size),
        ),
        on_epoch,
    )
    return SpectroCNNDetector(net.cpu(), params.width, device)
