"""Heads: the trainable half of each detector, refitted on cached features for every fold.

Each head fits what the shipped detector fits (`fit_fakeprint_features`, and
`train/detectors.py`'s `fit_acoustic`, `fit_spectro_cnn`) on cached features, so the benchmark
measures the model that ships, not a look-alike.

`BUDGET` (with the run's `max_eval_clips`) is the one place that sizes a fold's cost. The CNN
dominates it: on two CPU cores a training step costs ~25 ms per window and scoring ~7 ms, so
1 200 windows × 2 epochs is ~1 min of fitting per fold, and scoring 2 000 calib windows plus
600 + 600 eval clips × 4 conditions (~5 800 windows) adds ~55 s. The logistic-regression and
MLP heads take seconds. About 2–2.5 min per fold on two cores, ~45 min for 20 folds.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Protocol

import numpy as np

from synthscope.train.detectors import ACOUSTIC, SPECTRO_CNN, fit_acoustic, fit_fakeprint_features, fit_spectro_cnn
from synthscope.train.encoder_head import HeadParams, fit_head, head_probabilities

#: The speech_encoder head the benchmark and the shipped bundle use.
HEAD_PARAMS = HeadParams()


@dataclass(frozen=True)
class Budget:
    """Per-fold caps. Subsets are drawn with the run's seed, balanced by class where possible."""

    cnn_max_windows: int = 1200  # training windows for spectro_cnn (the others use every fit window)
    cnn_epochs: int = 2
    acoustic_epochs: int = ACOUSTIC.epochs
    calib_max_windows: int = 2000  # the stacker has a handful of weights; more calib windows add little
    augment: bool = True  # also fit on each fit clip through one more random channel (`augment.channel_augment`)
    device: str = "auto"


BUDGET = Budget()


class Head(Protocol):
    """features -> P(ai); `fit` returns a new, fitted head and leaves `self` untouched.

    `groups` (one source-group name per window) lets a head balance its sampling over sources;
    heads that do not use it ignore it.

    A head may also define `max_windows` (int): the fold runner then reads only that many
    training windows (class-balanced) from the cache, so a capped head never loads the rest.
    """

    def fit(self, features: np.ndarray, labels: np.ndarray, seed: int, groups: np.ndarray | None = None) -> Head: ...

    def predict(self, features: np.ndarray) -> np.ndarray: ...


def balanced_subset(labels: np.ndarray, cap: int, seed: int) -> np.ndarray:
    """Sorted indices of at most `cap` items, half per class where both classes have enough."""
    n = len(labels)
    if cap <= 0 or n <= cap:
        return np.arange(n)
    rng = np.random.default_rng(seed)
    pos, neg = np.flatnonzero(labels == 1), np.flatnonzero(labels == 0)
    n_pos = min(len(pos), max(cap // 2, cap - len(neg)))
    n_neg = min(len(neg), cap - n_pos)
    picked = np.concatenate([rng.choice(pos, n_pos, replace=False), rng.choice(neg, n_neg, replace=False)])
    return np.sort(picked)


class FakeprintHead:
    def __init__(self, budget: Budget = BUDGET, model: Any = None) -> None:
        self.budget, self.model = budget, model

    def fit(
        self, features: np.ndarray, labels: np.ndarray, seed: int, groups: np.ndarray | None = None
    ) -> FakeprintHead:

        return FakeprintHead(self.budget, fit_fakeprint_features(features, labels, seed=seed))

    def predict(self, features: np.ndarray) -> np.ndarray:
        return np.asarray(self.model.predict_features(features), np.float32)


class AcousticHead:
    def __init__(self, budget: Budget = BUDGET, model: Any = None) -> None:
        self.budget, self.model = budget, model

    def fit(
        self, features: np.ndarray, labels: np.ndarray, seed: int, groups: np.ndarray | None = None
    ) -> AcousticHead:
        from synthscope.detect.acoustic import features as acoustic_features

        names = acoustic_features(np.zeros((1, 4800), np.float32))[1]  # the column names, from a probe
        model = fit_acoustic(
            features.astype(np.float32),
            labels,
            replace(ACOUSTIC, epochs=self.budget.acoustic_epochs),
            names=names,
            seed=seed,
            device=self.budget.device,
        )
        return AcousticHead(self.budget, model)

    def predict(self, features: np.ndarray) -> np.ndarray:
        return np.concatenate(
            [self.model.predict_features(features[i : i + 4096]) for i in range(0, len(features), 4096)]
            or [np.zeros(0, np.float32)]
        )


class SpectroCNNHead:
    def __init__(self, budget: Budget = BUDGET, model: Any = None) -> None:
        self.budget, self.model = budget, model

    @property
    def max_windows(self) -> int:
        return self.budget.cnn_max_windows

    def fit(
        self, features: np.ndarray, labels: np.ndarray, seed: int, groups: np.ndarray | None = None
    ) -> SpectroCNNHead:
        keep = balanced_subset(labels, self.max_windows, seed)  # a no-op when the runner already capped
        model = fit_spectro_cnn(
            features[keep],
            labels[keep],
            replace(SPECTRO_CNN, epochs=self.budget.cnn_epochs),
            seed=seed,
            device=self.budget.device,
        )
        return SpectroCNNHead(self.budget, model)

    def predict(self, features: np.ndarray) -> np.ndarray:
        return np.asarray(self.model.predict_features(features), np.float32)


@dataclass(frozen=True)
class SpeechEncoderParams:
    """Every hyper-parameter of the speech-encoder head, in one place.

    `states` picks hidden states of the pooled [B, n_states, 2·d] features (0 = the conv
    embeddings, the last = the encoder output); None concatenates them all. A strong L2 penalty
    (small C) because a few thousand windows from a handful of sources face 3 840 features:
    the head must not learn the sources. `max_windows` caps the training set (class-balanced)
    so a fold's fit stays at seconds.
    """

    states: tuple[int, ...] | None = None
    C: float = 0.05
    max_iter: int = 500
    class_weight: str | None = "balanced"
    max_windows: int = 12000


SPEECH_ENCODER = SpeechEncoderParams()


class SpeechEncoderHead:
    """Standardise, then logistic regression (scikit-learn) on pooled Whisper-encoder states."""

    def __init__(
        self, budget: Budget = BUDGET, params: SpeechEncoderParams = SPEECH_ENCODER, model: Any = None
    ) -> None:
        self.budget, self.params, self.model = budget, params, model

    @property
    def max_windows(self) -> int:
        return self.params.max_windows

    def _design(self, features: np.ndarray) -> np.ndarray:
        f = np.asarray(features, np.float32)
        if f.ndim != 3:
            raise ValueError(f"expected pooled features [B, states, dim], got shape {f.shape}")
        if self.params.states is not None:
            f = f[:, list(self.params.states)]
        return f.reshape(len(f), -1)

    def fit(
        self, features: np.ndarray, labels: np.ndarray, seed: int, groups: np.ndarray | None = None
    ) -> SpeechEncoderHead:
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        p = self.params
        keep = balanced_subset(labels, p.max_windows, seed)  # a no-op when the runner already capped
        model = make_pipeline(
            StandardScaler(),
            LogisticRegression(C=p.C, max_iter=p.max_iter, class_weight=p.class_weight, random_state=seed),
        )
        model.fit(self._design(features[keep]), np.asarray(labels)[keep])
        return SpeechEncoderHead(self.budget, p, model)

    def predict(self, features: np.ndarray) -> np.ndarray:
        if len(features) == 0:
            return np.zeros(0, np.float32)
        return np.asarray(self.model.predict_proba(self._design(features))[:, 1], np.float32)


class EncoderHeadTorch:
    """The shipped speech_encoder head (`train/encoder_head.fit_head`) on cached pooled states."""

    def __init__(self, budget: Budget = BUDGET, params: HeadParams | None = None, model: Any = None) -> None:
        self.budget, self.params, self.model = budget, params or HEAD_PARAMS, model

    @property
    def max_windows(self) -> int:
        return self.params.max_windows

    def fit(
        self, features: np.ndarray, labels: np.ndarray, seed: int, groups: np.ndarray | None = None
    ) -> EncoderHeadTorch:
        keep = balanced_subset(labels, self.params.max_windows, seed)
        head = fit_head(
            features[keep],
            np.asarray(labels)[keep],
            self.params,
            seed=seed,
            groups=None if groups is None else np.asarray(groups)[keep],
        )
        return EncoderHeadTorch(self.budget, self.params, head)

    def predict(self, features: np.ndarray) -> np.ndarray:
        return head_probabilities(self.model, features, self.params.states)
