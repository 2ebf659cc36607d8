"""Which Whisper-encoder hidden states should the speech_encoder head read? Prints LOSO mean / worst AUC per choice.

Runs the leave-one-source-out benchmark with one logistic head per state subset, on the features the
benchmark has already cached (run `make benchmark` with the speech_encoder detector first; nothing is
re-extracted). Usage: `.venv/bin/python bench/loso_layers.py [--manifest data/corpus/manifest.csv]`.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from functools import partial
from pathlib import Path

from synthscope.train.benchmark.heads import SPEECH_ENCODER, SpeechEncoderHead
from synthscope.train.benchmark.registry import REGISTRY, DetectorSpec
from synthscope.train.benchmark.run import BenchConfig, run_benchmark

#: name -> hidden states read (0 = conv embeddings, 4 = final layer norm output; None = all five).
CHOICES: dict[str, tuple[int, ...] | None] = {
    "se_all": None,
    "se_l0": (0,),
    "se_l1": (1,),
    "se_l2": (2,),
    "se_l3": (3,),
    "se_l4": (4,),
    "se_mid123": (1, 2, 3),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--manifest", type=Path, default=Path("data/corpus/manifest.csv"))
    ap.add_argument("--cache", type=Path, default=Path("data/features"))
    ap.add_argument("--codecs", default="wav,tel_8k")
    args = ap.parse_args()
    base = REGISTRY["speech_encoder"]
    registry = {
        name: DetectorSpec(base.extractor, partial(SpeechEncoderHead, params=replace(SPEECH_ENCODER, states=states)))
        for name, states in CHOICES.items()
    }
    codecs = tuple(c for c in args.codecs.split(",") if c)
    cfg = BenchConfig(manifest=args.manifest, out=Path("out/bench-layers"), cache=args.cache, codecs=codecs, workers=2)
    summary = run_benchmark(cfg, registry=registry).to_json()["summary"]
    print("condition  head        all mean/worst  AI mean/worst  human mean/worst")
    for cond in codecs:
        for name in CHOICES:
            s = summary[cond][name]
            cells = [f"{s[k]['mean']['auc']:.3f}/{s[k]['worst']['auc']:.3f}" for k in ("all", "ai", "human")]
            print(f"{cond:<10} {name:<11} " + "   ".join(cells))


if __name__ == "__main__":
    main()
