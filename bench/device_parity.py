"""Do CPU and CUDA give the same answers? Scores the bundled examples and a generated clip on both devices.

    python bench/device_parity.py [--files F ...]

Prints, per file, the verdict on each device and the largest per-window difference of the calibrated
P(ai) and of each detector's own score. Needs a CUDA device (run it on a GPU machine); prints figures
only, asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

from synthscope.config import Settings
from synthscope.engine import Engine

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((REPO / "shared" / "synthscope" / "examples").glob("*.ogg"))


def _generated(tmp: Path) -> Path:
    """60 s of a varied harmonic tone with noise (no audio is committed for this)."""
    import wave

    sr = 16_000
    rng = np.random.default_rng(7)
    t = np.arange(60 * sr) / sr
    f0 = 140 + 40 * np.sin(2 * np.pi * 0.3 * t)
    x = sum(np.sin(2 * np.pi * k * np.cumsum(f0) / sr) / k for k in range(1, 8))
    x = 0.2 * x * (0.6 + 0.4 * np.sin(2 * np.pi * 2.5 * t)) + 0.01 * rng.standard_normal(t.size)
    path = tmp / "generated.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(sr)
        w.writeframes((np.clip(x, -1, 1) * 32767).astype("<i2").tobytes())
    return path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--files", type=Path, nargs="*", default=None)
    args = ap.parse_args(argv)
    if not torch.cuda.is_available():
        print("no CUDA device: nothing to compare", file=sys.stderr)
        return 2
    engines = {dev: Engine.load(Settings(device=dev)) for dev in ("cpu", "cuda")}
    with tempfile.TemporaryDirectory() as tmp:
        files = args.files or [*EXAMPLES, _generated(Path(tmp))]
        rows = []
        for f in files:
            res = {dev: e.analyze(f).model_dump(mode="json") for dev, e in engines.items()}
            p = {dev: np.array([w["ai_probability"] for w in r["timeline"]]) for dev, r in res.items()}
            row = {
                "file": f.name,
                "windows": int(p["cpu"].size),
                "verdict": {dev: r["verdict"] for dev, r in res.items()},
                "max_abs_diff_ai_probability": float(np.max(np.abs(p["cpu"] - p["cuda"]))) if p["cpu"].size else 0.0,
            }
            per_det: dict[str, float] = {}
            for wc, wg in zip(res["cpu"]["timeline"], res["cuda"]["timeline"], strict=True):
                for name, s in (wc.get("detectors") or {}).items():
                    d = abs(float(s) - float((wg.get("detectors") or {}).get(name, np.nan)))
                    per_det[name] = max(per_det.get(name, 0.0), d)
            row["max_abs_diff_by_detector"] = per_det
            rows.append(row)
    print(json.dumps({"device": torch.cuda.get_device_name(0), "torch": torch.__version__, "files": rows}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
