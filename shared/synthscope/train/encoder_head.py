"""Fitting the speech-encoder head on pooled encoder states: hyper-parameters and the loop.

Every hyper-parameter of the head lives in `HeadParams`; the benchmark's head and the shipped
detector both train through `fit_head` (the shared loop in `train/trainer.py`), so the benchmark
measures what ships.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from synthscope.detect.encoder_head import EncoderHead
from synthscope.train.trainer import Optim, fit_loop


@dataclass(frozen=True)
class HeadParams:
    """The head's recipe. Defaults are the benchmark's choice (see docs/model-training-notes.md).

    `states`: hidden states read (0 = conv embeddings … last = encoder output); None = all.
    `loss`: "bce" (binary) or "ocsoftmax" (one-class, margins `margins` = (m_human, m_ai, alpha)).
    `max_windows`: class-balanced cap on training windows, so a fold's fit stays at seconds.
    `feature_noise`: std of Gaussian noise added to standardised inputs while training, a cheap
    stand-in for channel variation the corpus lacks.
    """

    states: tuple[int, ...] | None = None
    hidden: int = 256
    mix: str = "weighted"
    loss: str = "bce"
    margins: tuple[float, float, float] = (0.9, 0.2, 20.0)
    dropout: float = 0.2
    feature_noise: float = 0.0
    epochs: int = 12
    batch: int = 256
    lr: float = 1e-3
    weight_decay: float = 1e-2
    max_windows: int = 12000
    balance: str = "class"  # "class": half human, half AI per batch; "group": also even over source groups

    def config(self) -> dict[str, Any]:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(self).items()}


def select_states(features: np.ndarray, states: tuple[int, ...] | None) -> np.ndarray:
    f = np.asarray(features, np.float32)
    if f.ndim != 3:
        raise ValueError(f"expected pooled features [B, states, dim], got shape {f.shape}")
    return f if states is None else f[:, list(states)]


def build_head(params: HeadParams, n_states: int, dim: int) -> EncoderHead:
    return EncoderHead(
        n_states,
        dim,
        hidden=params.hidden,
        mix=params.mix,
        dropout=params.dropout,
        one_class=params.margins if params.loss == "ocsoftmax" else None,
    )


def _loss(head: EncoderHead, x: torch.Tensor, y: torch.Tensor, params: HeadParams) -> torch.Tensor:
    if params.loss == "bce":
        return nn.functional.binary_cross_entropy_with_logits(head(x), y)
    if params.loss == "ocsoftmax":
        m_human, m_ai, alpha = params.margins
        cos = head.cosine(x)
        # human (y=0): cos above m_human; ai (y=1): cos below m_ai
        return nn.functional.softplus(alpha * torch.where(y > 0.5, cos - m_ai, m_human - cos)).mean()
    raise ValueError(f"unknown loss {params.loss!r}")


def _sampler(
    labels: np.ndarray, groups: np.ndarray | None, balance: str, rng: np.random.Generator
) -> Callable[[int], np.ndarray]:
    """Draws `n` window indices: half per class; with `balance="group"`, each class's half is
    spread evenly over its source groups (a 2-hour source and a 10-minute one weigh the same)."""
    per_class: list[list[np.ndarray]] = []
    for c in (0, 1):
        idx = np.flatnonzero(labels == c)
        if balance == "group" and groups is not None:
            per_class.append([idx[groups[idx] == g] for g in np.unique(groups[idx])])
        else:
            per_class.append([idx])

    def draw(n: int) -> np.ndarray:
        out = []
        for pools in per_class:
            which = rng.integers(0, len(pools), n // 2)
            out += [rng.choice(pools[k], int((which == k).sum())) for k in range(len(pools))]
        return np.concatenate(out)

    return draw


def fit_head(
    features: np.ndarray,
    labels: np.ndarray,
    params: HeadParams,
    *,
    seed: int = 0,
    groups: np.ndarray | None = None,
) -> EncoderHead:
    """Train a head on pooled states [N, states, dim] (all states; `params.states` picks).

    Classes are balanced by sampling: each batch draws humans and AI equally, so neither the
    corpus's class ratio nor its largest source sets the decision boundary; `groups` (one
    source group per window) lets `params.balance="group"` even out the sources too.
    """
    x_all = select_states(features, params.states)
    y_all = np.asarray(labels, np.float32)
    if len(set(y_all.tolist())) < 2:
        raise ValueError("the head needs both human and AI windows")
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    head = build_head(params, x_all.shape[1], x_all.shape[2])
    mean = x_all.mean(axis=0)
    scale = x_all.std(axis=0) + 1e-4
    head.mean.copy_(torch.from_numpy(mean))
    head.scale.copy_(torch.from_numpy(scale))
    x = torch.from_numpy(x_all)
    y = torch.from_numpy(y_all)
    draw = _sampler(y_all.astype(np.int64), groups, params.balance, rng)
    steps = max(1, len(y_all) // params.batch)

    def loss_for(idx: np.ndarray) -> torch.Tensor:
        xb = x[idx]
        if params.feature_noise > 0:
            xb = xb + params.feature_noise * torch.randn_like(xb) * head.scale
        return _loss(head, xb, y[idx], params)

    fit_loop(
        head,
        lambda: (draw(params.batch) for _ in range(steps)),
        loss_for,
        Optim(params.epochs, params.lr, params.weight_decay),
    )
    return head


@torch.inference_mode()
def head_probabilities(head: EncoderHead, features: np.ndarray, states: tuple[int, ...] | None) -> np.ndarray:
    """P(ai) per window from pooled states (CPU, batched)."""
    if len(features) == 0:
        return np.zeros(0, np.float32)
    x = select_states(features, states)
    out = [torch.sigmoid(head(torch.from_numpy(x[i : i + 4096]))).numpy() for i in range(0, len(x), 4096)]
    return np.concatenate(out).astype(np.float32)
