"""Run one fold on cached features: refit each head, score the eval set, keep the window scores.

Heads train on the fold's fit and calib sets (clips as stored); the eval set is read under
every codec condition. A clip's score is the mean of its window probabilities (as `evaluate`
and the product do), and metrics are per clip. The eval windows' scores are kept in
`FoldRunner.oof`: the ensemble is fitted on them afterwards, out of fold (`stacking.py`).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from synthscope.detect.verdict import Thresholds
from synthscope.train.benchmark.cache import FeatureCache
from synthscope.train.benchmark.extract import AUGMENTED, STORED
from synthscope.train.benchmark.extractors import Extractor
from synthscope.train.benchmark.heads import Budget, Head, balanced_subset
from synthscope.train.benchmark.protocol import Fold, Row, check_no_leak, has_both_classes
from synthscope.train.benchmark.results import FoldResult
from synthscope.train.benchmark.stacking import OOF, WindowPreds, clip_means
from synthscope.train.metrics import summarize

#: Raw detector scores are uncalibrated P(ai): their FPR/FNR are read at 0.5.
DETECTOR_THRESHOLD = 0.5
EVAL_BLOCK_CLIPS = 1024  # eval clips read per block, so a large group never holds all its features at once


@dataclass(frozen=True)
class WindowIndex:
    """Windows of a list of clips: `clips[clip[k]]` is window k's row, `local[k]` its index in that clip."""

    clips: list[int]  # row indices with at least one window
    clip: np.ndarray  # int [W], sorted
    local: np.ndarray  # int [W]

    def subset(self, keep: np.ndarray) -> WindowIndex:
        return WindowIndex(self.clips, self.clip[keep], self.local[keep])


class FoldRunner:
    """Holds what every fold shares: rows, clip hashes, cache, extractors, heads, budget."""

    def __init__(
        self,
        rows: Sequence[Row],
        shas: Mapping[int, str],
        cache: FeatureCache,
        extractors: Mapping[str, Extractor],
        heads: Mapping[str, Head],
        budget: Budget,
        *,
        codecs: Sequence[str],
        seed: int,
        max_eval_clips: int,
    ) -> None:
        self.rows, self.shas, self.cache = rows, shas, cache
        self.extractors, self.heads, self.budget = extractors, heads, budget
        self.codecs, self.seed, self.max_eval_clips = list(codecs), seed, max_eval_clips
        self.ensemble_threshold = Thresholds().decision
        self.oof: OOF = {}

    # -- reading cached features -------------------------------------------------------------

    def index(self, condition: str, row_ids: Sequence[int]) -> WindowIndex:
        """Window index of the clips that have judgeable windows; every extractor must agree on it."""
        ids = [i for i in row_ids if i in self.shas]
        ref: dict[str, int] | None = None
        for name, ex in self.extractors.items():
            counts = self.cache.counts(ex.name, ex.version, condition, {self.shas[i] for i in ids})
            if ref is None:
                ref = counts
            elif counts != ref:
                raise RuntimeError(f"feature cache: {name} disagrees with the other extractors on {condition}")
        ref = ref or {}
        clips = [i for i in ids if ref.get(self.shas[i], 0) > 0]
        n = [ref[self.shas[i]] for i in clips]
        clip = np.repeat(np.arange(len(clips)), n).astype(np.int64)
        local = np.concatenate([np.arange(k) for k in n]).astype(np.int64) if n else np.zeros(0, np.int64)
        return WindowIndex(clips, clip, local)

    def gather(self, name: str, condition: str, idx: WindowIndex) -> np.ndarray:
        ex = self.extractors[name]
        used, starts = np.unique(idx.clip, return_index=True)
        data = self.cache.get(ex.name, ex.version, condition, {self.shas[idx.clips[c]] for c in used})
        ends = np.append(starts[1:], len(idx.clip))
        parts = [data[self.shas[idx.clips[c]]][idx.local[s:e]] for c, s, e in zip(used, starts, ends, strict=True)]
        return np.concatenate(parts) if parts else np.zeros((0,), ex.dtype)

    def labels(self, idx: WindowIndex) -> np.ndarray:
        return np.array([self.rows[i].label for i in idx.clips], np.int64)[idx.clip]

    # -- the fold ----------------------------------------------------------------------------

    def capped_eval(self, fold: Fold) -> list[int]:
        """At most `max_eval_clips` per class (drawn with the seed); 0 keeps every clip."""
        out: list[int] = []
        for label in (0, 1):
            ids = [i for i in fold.eval if self.rows[i].label == label]
            if 0 < self.max_eval_clips < len(ids):
                rng = np.random.default_rng(self.seed)
                ids = sorted(rng.choice(ids, self.max_eval_clips, replace=False).tolist())
            out += ids
        return sorted(out)

    def run(self, fold: Fold) -> FoldResult:
        started = time.perf_counter()
        check_no_leak(self.rows, fold)  # again here: folds may come from anywhere, not only `loso_fold`
        res = FoldResult(fold.group, fold.side)
        fold = self._without_copies(fold, res)
        if not has_both_classes(self.rows, fold.fit):
            res.notes.append("fit set lacks a class: fold skipped")
            return res
        fitted = self._fit_heads(fold, res)
        self._score(fold, fitted, res)
        res.seconds = time.perf_counter() - started
        return res

    def _without_copies(self, fold: Fold, res: FoldResult) -> Fold:
        """Drop fit/calib rows whose audio is byte-identical to an eval clip (a corpus duplicate under
        another item or group would otherwise be trained on and then judged)."""
        judged = {self.shas[i] for i in fold.eval if i in self.shas}
        fit = tuple(i for i in fold.fit if self.shas.get(i) not in judged)
        calib = tuple(i for i in fold.calib if self.shas.get(i) not in judged)
        dropped = len(fold.fit) - len(fit) + len(fold.calib) - len(calib)
        if dropped:
            res.notes.append(f"{dropped} fit/calib clip(s) dropped: byte-identical to an eval clip")
        return Fold(fold.group, fold.side, fit, calib, fold.eval)

    def _fit_heads(self, fold: Fold, res: FoldResult) -> dict[str, Head]:
        return self.fit_heads((*fold.fit, *fold.calib), res)

    def fit_heads(self, row_ids: Sequence[int], res: FoldResult) -> dict[str, Head]:
        """Every head refitted on the windows of `row_ids` as stored, plus their channel-augmented
        copies when the budget asks for them (sizes and times into `res`)."""
        conditions = [STORED, *([AUGMENTED] if self.budget.augment else [])]
        parts = [(c, self.index(c, row_ids)) for c in conditions]
        ys = [self.labels(idx) for _, idx in parts]
        y = np.concatenate(ys)
        fam = np.concatenate([np.array([self.rows[i].family for i in idx.clips])[idx.clip] for _, idx in parts])
        res.fit_clips, res.fit_windows = len(parts[0][1].clips), len(y)
        fitted: dict[str, Head] = {}
        for name, head in self.heads.items():
            t = time.perf_counter()
            cap = int(getattr(head, "max_windows", 0) or 0)
            keep = balanced_subset(y, cap, self.seed)
            feats, offset = [], 0
            for (cond, idx), yc in zip(parts, ys, strict=True):
                mine = keep[(keep >= offset) & (keep < offset + len(yc))] - offset
                feats.append(self.gather(name, cond, idx.subset(mine)))
                offset += len(yc)
            fitted[name] = head.fit(np.concatenate(feats), y[keep], self.seed, groups=fam[keep])
            res.fit_seconds[name] = round(time.perf_counter() - t, 2)
        return fitted

    def _score(self, fold: Fold, fitted: Mapping[str, Head], res: FoldResult) -> None:
        ids = self.capped_eval(fold)
        res.eval_ai = sum(self.rows[i].label for i in ids)
        res.eval_human = len(ids) - res.eval_ai
        names = list(fitted)
        self.oof[fold.group] = {}
        for cond in self.codecs:
            w_rows: list[np.ndarray] = []
            w_scores: dict[str, list[np.ndarray]] = {n: [] for n in names}
            for b in range(0, len(ids), EVAL_BLOCK_CLIPS):
                idx = self.index(cond, ids[b : b + EVAL_BLOCK_CLIPS])
                if not idx.clips:
                    continue
                w_rows.append(np.asarray(idx.clips, np.int64)[idx.clip])
                for name, head in fitted.items():
                    w_scores[name].append(head.predict(self.gather(name, cond, idx)))
            if not w_rows:
                res.notes.append(f"{cond}: no judgeable eval windows")
                continue
            rows = np.concatenate(w_rows)
            block = WindowPreds(
                rows,
                np.array([self.rows[i].label for i in rows], np.int64),
                {n: np.concatenate(w_scores[n]) for n in names},
            )
            self.oof[fold.group][cond] = block
            res.metrics[cond] = {n: summarize(*clip_means(block, block.scores[n]), DETECTOR_THRESHOLD) for n in names}
