"""The one minibatch AdamW loop every trainable detector (and the speech-encoder head) fits with.

A detector's recipe brings its own hyper-parameters (`train/detectors.py`,
`train/encoder_head.py`), how batches are drawn (`shuffled_batches`, or a class-balanced
sampler) and how a batch's loss is computed; the loop itself is shared, so the detectors train
the same way and the benchmark's heads train exactly as the shipped detectors do.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

#: Called after each epoch with (epoch index, mean training loss per item).
OnEpoch = Callable[[int, float], None]


def shuffled_batches(n: int, batch_size: int, rng: np.random.Generator) -> Callable[[], Iterator[np.ndarray]]:
    """One epoch's batches: a fresh permutation of `n` items (drawn from `rng`), cut into batches."""

    def epoch() -> Iterator[np.ndarray]:
        order = rng.permutation(n)
        for i in range(0, n, batch_size):
            yield order[i : i + batch_size]

    return epoch


def balanced_bce(labels: np.ndarray, device: torch.device) -> nn.BCEWithLogitsLoss:
    """Binary cross-entropy weighted so both classes count equally (positives weigh neg/pos)."""
    pos = float(labels.mean())
    return nn.BCEWithLogitsLoss(pos_weight=torch.tensor((1 - pos) / max(pos, 1e-3), device=device))


def steps_per_epoch(n: int, batch_size: int) -> int:
    """Batches `shuffled_batches` yields per epoch."""
    return int(np.ceil(n / batch_size))


@dataclass(frozen=True)
class Optim:
    """AdamW for `epochs` passes; `one_cycle_steps` (the total number of optimiser steps) turns on a one-cycle
    learning-rate schedule peaking at `lr`."""

    epochs: int
    lr: float
    weight_decay: float
    one_cycle_steps: int | None = None


def fit_loop(
    net: nn.Module,
    batches: Callable[[], Iterable[np.ndarray]],
    loss_for: Callable[[np.ndarray], torch.Tensor],
    optim: Optim,
    on_epoch: OnEpoch | None = None,
) -> None:
    """Train `net` in place over `optim.epochs` passes of `batches()`, leaving it in eval mode.

    `loss_for(indices)` returns the (mean) loss of one batch.
    """
    opt = torch.optim.AdamW(net.parameters(), lr=optim.lr, weight_decay=optim.weight_decay)
    steps = optim.one_cycle_steps
    sched = (
        torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=optim.lr, total_steps=max(steps, 1))
        if steps is not None
        else None
    )
    for epoch in range(optim.epochs):
        net.train()
        total, seen = 0.0, 0
        for idx in batches():
            loss = loss_for(idx)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if sched is not None:
                sched.step()
            total += float(loss.detach()) * len(idx)
            seen += len(idx)
        if on_epoch:
            on_epoch(epoch, total / max(seen, 1))
    net.eval()
