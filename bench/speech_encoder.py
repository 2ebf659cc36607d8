"""How fast is the `speech_encoder` front end? ms per 3-s window, by batch size and CPU threads.

    python bench/speech_encoder.py [--batches 8 32] [--threads 1 2] [--repeats 3] [--cuda]

Times the whole path the extractor runs (log-mel -> PyTorch Whisper tiny.en encoder -> pooled
states), best of `--repeats`, after one warm-up batch; with `--cuda` also on the GPU. Prints
figures only. On a busy machine the figures are upper bounds: say so when quoting them.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable

import numpy as np
import torch

from synthscope.detect import speech_encoder as se

WIN = 3 * 16_000


def _windows(n: int) -> np.ndarray:
    """Harmonic tones with noise: the encoder's cost does not depend on the content."""
    rng = np.random.default_rng(0)
    t = np.arange(WIN) / 16_000
    f0 = rng.uniform(100, 300, (n, 1))
    return (0.2 * np.sin(2 * np.pi * f0 * t) + 0.02 * rng.standard_normal((n, WIN))).astype(np.float32)


def _ms_per_window(call: Callable[[np.ndarray], object], x: np.ndarray, repeats: int, sync: bool) -> float:
    call(x)  # warm-up: first calls allocate and pick kernels
    best = float("inf")
    for _ in range(repeats):
        if sync:
            torch.cuda.synchronize()
        t = time.perf_counter()
        call(x)
        if sync:
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t)
    return 1000 * best / len(x)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--batches", type=int, nargs="+", default=[8, 32])
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--cuda", action="store_true")
    args = ap.parse_args(argv)

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"cpus {os.cpu_count()}, load average {load:.1f} (busy cores inflate the figures)")
    enc = se.SpeechEncoder(device="cpu")
    print(f"encoder {enc.provenance.package} {enc.provenance.version} sha256 {enc.provenance.sha256[:12]}")
    for threads in args.threads:
        torch.set_num_threads(threads)
        for b in args.batches:
            x = _windows(b)
            mel = _ms_per_window(lambda w: se.log_mel(torch.from_numpy(w)), x, args.repeats, False)
            full = _ms_per_window(lambda w: enc.pooled(w, batch=len(w)), x, args.repeats, False)
            print(f"cpu  threads {threads}  batch {b:3d}: {full:7.1f} ms/window (log-mel alone {mel:.1f})")
    if args.cuda and torch.cuda.is_available():
        gpu = se.SpeechEncoder(device="cuda")
        for b in [*args.batches, 256]:
            x = _windows(b)
            full = _ms_per_window(lambda w: gpu.pooled(w, batch=len(w)), x, args.repeats, True)
            print(f"cuda batch {b:3d}: {full:7.2f} ms/window ({torch.cuda.get_device_name()})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
