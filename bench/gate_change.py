"""How many corpus windows the activity gate's change (issue 12) moved between judged and not judged.

The gate used to measure loudness as RMS including the window's mean; it now leaves the mean out, so a
constant-DC file is silent. The benchmark's feature cache was gated the old way, so this says whether its
figures still stand: it decodes a random sample of corpus clips, cuts 3-s windows as the benchmark does and
counts windows whose judgeable status differs between the two gates.

    .venv/bin/python bench/gate_change.py [--clips 600] [--seed 0] [--manifest data/corpus/manifest.csv]
"""

from __future__ import annotations

import argparse
import csv
import random
from pathlib import Path

import numpy as np

from synthscope.audio import gate
from synthscope.audio.decode import decode_all
from synthscope.audio.windows import iter_windows


def old_judgeable(windows: np.ndarray, new: gate.Activity) -> np.ndarray:
    """The gate before the change: silence from RMS with the mean; the noise test (flatness) is unchanged."""
    rms = np.sqrt(np.mean(np.square(windows, dtype=np.float64), axis=1))
    silent = 20 * np.log10(np.maximum(rms, 1e-10)) < gate.SILENCE_DBFS
    return ~silent & ~(new.flatness > gate.NOISE_FLATNESS)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--manifest", type=Path, default=Path("data/corpus/manifest.csv"))
    ap.add_argument("--clips", type=int, default=600)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    rows = list(csv.DictReader(args.manifest.open()))
    sample = random.Random(args.seed).sample(rows, min(args.clips, len(rows)))
    windows = judged = dropped = 0
    for row in sample:
        x = decode_all(args.manifest.parent / row["path"])
        ws = [w for _, _, w in iter_windows([x], window_s=3.0, hop_s=3.0)]
        if not ws:
            continue
        stacked = np.stack(ws).astype(np.float32)
        new = gate.activity(stacked)
        old = old_judgeable(stacked, new)
        windows += len(stacked)
        judged += int((new.judgeable & ~old).sum())
        dropped += int((~new.judgeable & old).sum())
    print(f"{len(sample)} clips, {windows} windows: {judged} newly judged, {dropped} newly dropped")


if __name__ == "__main__":
    main()
