"""Train every detector and the ensemble from a corpus manifest; write a bundle.

Detectors learn on the `train` split; the stacker and its calibration learn on
`calib`, which no detector has seen, so the ensemble weights reflect how each
detector generalises rather than how well it memorised.
"""

from __future__ import annotations

import csv
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from synthscope.audio.decode import decode_all
from synthscope.audio.gate import activity
from synthscope.audio.windows import fit_length
from synthscope.config import SAMPLE_RATE
from synthscope.detect.bundle import save_bundle
from synthscope.detect.ensemble import Ensemble
from synthscope.detect.profiles import Profile, fast_members
from synthscope.detect.verdict import Thresholds
from synthscope.train.detectors import ACOUSTIC, SPECTRO_CNN, fit_acoustic, fit_fakeprint, fit_spectro_cnn

Log = Callable[[str], None]


@dataclass
class WindowSet:
    windows: np.ndarray  # float32 [N, window samples]
    labels: np.ndarray  # int [N], 1 = ai
    rows: list[dict[str, str]]  # manifest row of each window


def read_manifest(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def load_windows(
    manifest: Path,
    split: str,
    *,
    window_s: float = 3.0,
    crops_per_clip: int = 2,
    seed: int = 0,
    track: Callable[[Iterable[Any], str], Iterable[Any]] = lambda it, _: it,
) -> WindowSet:
    """Random crops of each clip in `split`, judgeable windows only (as at inference)."""
    rng = np.random.default_rng(seed)
    win = round(window_s * SAMPLE_RATE)
    rows = [r for r in read_manifest(manifest) if r["split"] == split]
    base = manifest.parent
    out_w: list[np.ndarray] = []
    out_rows: list[dict[str, str]] = []
    for row in track(rows, f"loading {split}"):
        x = decode_all(base / row["path"])
        if x.shape[0] < SAMPLE_RATE:
            continue
        n = 1 if x.shape[0] <= win else min(crops_per_clip, int(np.ceil(x.shape[0] / win)))
        for _ in range(n):
            start = int(rng.integers(0, x.shape[0] - win + 1)) if x.shape[0] > win else 0
            out_w.append(fit_length(x[start : start + win], win))
            out_rows.append(row)
    if not out_w:
        raise ValueError(f"split {split!r} of {manifest} has no usable clips")
    windows = np.stack(out_w)
    keep = activity(windows).judgeable
    labels = np.array([1 if r["label"] == "ai" else 0 for r in out_rows])
    return WindowSet(windows[keep], labels[keep], [r for r, k in zip(out_rows, keep, strict=True) if k])


def summarise(rows: list[dict[str, str]]) -> dict[str, Any]:
    """What the bundle was trained on, for the manifest and the model card."""
    clips = Counter((r["split"], r["label"]) for r in rows)
    minutes: dict[tuple[str, str], float] = defaultdict(float)
    for r in rows:
        minutes[(r["split"], r["label"])] += float(r.get("duration_s") or 0) / 60
    return {
        "clips": {f"{s}/{label}": n for (s, label), n in sorted(clips.items())},
        "minutes": {f"{s}/{label}": round(m, 1) for (s, label), m in sorted(minutes.items())},
        "sources": sorted({r["source"] for r in rows}),
        "engines": sorted({r["engine"] for r in rows if r["label"] == "ai"}),
        "held_out_engines": sorted(
            {r["engine"] for r in rows if r["label"] == "ai"}
            - {r["engine"] for r in rows if r["label"] == "ai" and r["split"] != "test"}
        ),
    }


def train_bundle(
    manifest: Path,
    out: Path,
    *,
    name: str = "synthscope-default",
    version: str | None = None,
    window_s: float = 3.0,
    cnn_epochs: int = SPECTRO_CNN.epochs,
    acoustic_epochs: int = ACOUSTIC.epochs,
    crops_per_clip: int = 3,
    seed: int = 0,
    with_encoder: bool = True,
    log: Log = print,
    track: Callable[[Iterable[Any], str], Iterable[Any]] = lambda it, _: it,
) -> Path:
    """Fit every detector on `train` and the ensemble on `calib` (corpus scale: `synthscope ship`)."""
    train, calib = _train_and_calib(manifest, window_s, crops_per_clip, seed, log, track)
    detectors = _fit_detectors(train, cnn_epochs, acoustic_epochs, seed, with_encoder, log)
    log("fitting the ensemble on calib")
    ensemble = Ensemble.fit(_calib_scores(detectors, calib.windows), calib.labels)
    names = [d.name for d in detectors]
    return save_bundle(
        out,
        name=name,
        version=version or datetime.now(UTC).strftime("%Y.%m.%d-%H%M"),
        detectors=detectors,
        ensemble=ensemble,
        thresholds=Thresholds(),
        window_s=window_s,
        training_data={
            **summarise(read_manifest(manifest)),
            "manifest": manifest.name,
            "seed": seed,
            "train_windows": len(train.labels),
            "calib_windows": len(calib.labels),
        },
        profiles={Profile.default: names, Profile.fast: fast_members(names)},
    )


def _train_and_calib(
    manifest: Path,
    window_s: float,
    crops_per_clip: int,
    seed: int,
    log: Log,
    track: Callable[[Iterable[Any], str], Iterable[Any]],
) -> tuple[WindowSet, WindowSet]:
    """The `train` and `calib` windows (different crop seeds); each split needs both classes."""
    train = load_windows(manifest, "train", window_s=window_s, crops_per_clip=crops_per_clip, seed=seed, track=track)
    log(f"train: {len(train.labels)} windows, {int(train.labels.sum())} ai")
    calib = load_windows(
        manifest, "calib", window_s=window_s, crops_per_clip=crops_per_clip, seed=seed + 1, track=track
    )
    log(f"calib: {len(calib.labels)} windows, {int(calib.labels.sum())} ai")
    if len(set(train.labels.tolist())) < 2 or len(set(calib.labels.tolist())) < 2:
        raise ValueError("train and calib splits each need both human and ai clips")
    return train, calib


def _fit_detectors(
    train: WindowSet, cnn_epochs: int, acoustic_epochs: int, seed: int, with_encoder: bool, log: Log
) -> list[Any]:
    """Every detector fitted on the train windows, in the bundle's order."""
    log("fitting fakeprint")
    fp = fit_fakeprint(train.windows, train.labels, seed=seed)
    log("fitting acoustic")
    ac = fit_acoustic(train.windows, train.labels, replace(ACOUSTIC, epochs=acoustic_epochs), seed=seed)
    log("fitting spectro_cnn")
    cnn = fit_spectro_cnn(
        train.windows,
        train.labels,
        replace(SPECTRO_CNN, epochs=cnn_epochs),
        seed=seed,
        on_epoch=lambda e, loss: log(f"  spectro_cnn epoch {e + 1}/{cnn_epochs} loss {loss:.4f}"),
    )
    detectors: list[Any] = [cnn, fp, ac]
    if with_encoder:
        detectors.append(fit_speech_encoder(train.windows, train.labels, seed=seed, log=log))
    return detectors


def _calib_scores(detectors: list[Any], windows: np.ndarray) -> dict[str, np.ndarray]:
    """Each detector's P(ai) on the calib windows (batches of 128)."""
    return {
        det.name: np.concatenate([det.predict(windows[i : i + 128]) for i in range(0, len(windows), 128)])
        for det in detectors
    }


def fit_speech_encoder(windows: np.ndarray, labels: np.ndarray, *, seed: int = 0, log: Log = print) -> Any:
    """The speech_encoder detector: pooled encoder states of `windows`, then the head's recipe."""
    from synthscope.detect.speech_encoder import SpeechEncoderDetector, load
    from synthscope.train.encoder_head import HeadParams, fit_head

    log("fitting speech_encoder (encoding the training windows)")
    encoder = load("cpu")
    params = HeadParams()
    head = fit_head(encoder.pooled(windows), labels, params, seed=seed)
    return SpeechEncoderDetector(head, params.config(), encoder)
