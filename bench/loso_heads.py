"""Which speech_encoder head recipe generalises? Prints LOSO mean / worst AUC per recipe.

Each recipe is one `HeadParams` (train/encoder_head.py) refitted on every leave-one-source-out
fold from the features the benchmark has cached (run `make benchmark` first; nothing is
re-extracted). Usage: `.venv/bin/python bench/loso_heads.py [--only NAME ...] [--codecs wav]`.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from functools import partial
from pathlib import Path

from synthscope.train.benchmark.heads import BUDGET, HEAD_PARAMS, EncoderHeadTorch, SpeechEncoderHead
from synthscope.train.benchmark.registry import REGISTRY, DetectorSpec
from synthscope.train.benchmark.run import BenchConfig, run_benchmark
from synthscope.train.encoder_head import HeadParams

P = HEAD_PARAMS
RECIPES: dict[str, HeadParams | None] = {
    "lr_sklearn": None,  # the issue-10 probe: StandardScaler + LogisticRegression(C=0.05)
    "linear": replace(P, hidden=0, mix="concat"),
    "linear_noise": replace(P, hidden=0, mix="concat", feature_noise=0.5),
    "mlp256": replace(P, hidden=256, mix="concat"),
    "mlp256_noise": replace(P, hidden=256, mix="concat", feature_noise=0.5),
    "weighted_mlp256": replace(P, hidden=256, mix="weighted"),
    "mlp256_oc": replace(P, hidden=256, mix="concat", loss="ocsoftmax"),
    "mid123_mlp256": replace(P, hidden=256, mix="concat", states=(1, 2, 3)),
    # layer choice (replaces bench/loso_layers.py): one hidden state at a time, linear head
    **{f"linear_l{k}": replace(P, hidden=0, mix="concat", states=(k,)) for k in range(5)},
    "linear_group": replace(P, hidden=0, mix="concat", balance="group"),
    "mlp256_group": replace(P, hidden=256, mix="concat", balance="group"),
    "weighted_mlp256_group": replace(P, hidden=256, mix="weighted", balance="group"),
    "weighted_mlp256_all": replace(P, hidden=256, mix="weighted", max_windows=40000),
    "weighted_mlp512_drop3": replace(P, hidden=512, mix="weighted", dropout=0.3),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--manifest", type=Path, default=Path("data/corpus/manifest.csv"))
    ap.add_argument("--cache", type=Path, default=Path("data/features"))
    ap.add_argument("--codecs", default="wav")
    ap.add_argument("--only", nargs="*", default=None)
    ap.add_argument("--out", type=Path, default=Path("out/bench-heads"))
    ap.add_argument("--augment", action="store_true", help="also fit on the cached channel-augmented copies")
    args = ap.parse_args()
    base = REGISTRY["speech_encoder"]
    chosen = {k: v for k, v in RECIPES.items() if not args.only or k in args.only}
    registry = {
        name: DetectorSpec(
            base.extractor, SpeechEncoderHead if params is None else partial(EncoderHeadTorch, params=params)
        )
        for name, params in chosen.items()
    }
    codecs = tuple(c for c in args.codecs.split(",") if c)
    cfg = BenchConfig(
        manifest=args.manifest,
        out=args.out,
        cache=args.cache,
        codecs=codecs,
        workers=1,
        in_distribution=False,
        budget=replace(BUDGET, augment=args.augment),
    )
    result = run_benchmark(cfg, registry=registry).to_json()
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "heads.json").write_text(json.dumps(result, indent=1))
    summary = result["summary"]
    print("condition  recipe            all mean/worst  AI mean/worst  human mean/worst")
    for cond in codecs:
        for name in chosen:
            s = summary[cond][name]
            cells = [f"{s[k]['mean']['auc']:.3f}/{s[k]['worst']['auc']:.3f}" for k in ("all", "ai", "human")]
            print(f"{cond:<10} {name:<17} " + "   ".join(cells))


if __name__ == "__main__":
    main()
