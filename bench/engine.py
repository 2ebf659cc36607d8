"""Benchmark the detection engine on long files: speed, peak memory, timing breakdown.

    .venv/bin/python bench/engine.py [--minutes 10 60] [--formats wav mp3] [--device auto|cpu|cuda]
                                     [--bundle DIR] [--workdir DIR] [--json]

The script makes its own test audio (no audio is committed): a long, varied mix of speech
(espeak-ng when installed, else a synthetic harmonic voice), synthetic music, speech over
music, pauses and a noise floor, at 44.1 kHz stereo, written as WAV and re-encoded to MP3
with PyAV. Each (device, file) pair runs in a fresh child process, so the peak RSS it reports
(the child's own ru_maxrss) belongs to that one run, and model loading is timed apart from
analysis. The longest/shortest peak-RSS ratio shows whether memory stays flat with length.
It prints figures only; nothing here asserts on time.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

SR = 44_100
SEED = 20_240_601
REPO = Path(__file__).resolve().parent.parent

SENTENCES = [
    "Good morning, and welcome to the weekly update from the planning office.",
    "The river rose by almost a metre overnight, so the lower footpath is closed until Friday.",
    "If you have ever tried to bake bread at altitude, you will know the dough behaves differently.",
    "Our next guest has spent twenty years recording birdsong in the northern forests.",
    "Please remember that the library closes early on public holidays.",
    "The committee agreed to review the budget again in the spring, after the audit is complete.",
    "She picked up the old radio, turned the dial slowly, and listened for a familiar voice.",
    "Traffic on the ring road is moving freely again after this morning's delays.",
    "Three new species of beetle were described last year, two of them from a single valley.",
    "We asked listeners what they would change about the town centre, and the answers surprised us.",
    "The train from the coast was twelve minutes late, which is better than last week.",
    "In the second half of the programme we talk about gardening in small spaces.",
]
VOICES = ["en-us", "en-gb", "en-gb-x-rp", "en-us+f3", "en-gb+f2", "en-us+m3", "en-gb-scotland", "en+f4"]


# --------------------------------------------------------------------------- audio generation


def _espeak(text: str, voice: str, speed: int, pitch: int) -> np.ndarray | None:
    """One utterance from espeak-ng at 44.1 kHz, or None when espeak-ng is missing or fails."""
    import soundfile as sf
    from scipy.signal import resample_poly

    exe = shutil.which("espeak-ng")
    if exe is None:
        return None
    try:
        out = subprocess.run(
            [exe, "--stdout", "-v", voice, "-s", str(speed), "-p", str(pitch), text],
            capture_output=True,
            check=True,
            timeout=60,
        ).stdout
        x, sr = sf.read(io.BytesIO(out), dtype="float32")
    except (subprocess.SubprocessError, OSError, RuntimeError):
        return None
    if x.ndim > 1:
        x = x.mean(axis=1)
    g = np.gcd(SR, sr)
    return resample_poly(x, SR // g, sr // g).astype(np.float32)


def _synthetic_voice(seconds: float, rng: np.random.Generator) -> np.ndarray:
    """A harmonic 'voice': syllable-rate amplitude, drifting pitch with jitter, moving formants."""
    n = int(seconds * SR)
    t = np.arange(n) / SR
    f0 = rng.uniform(95, 220) * (1 + 0.08 * np.sin(2 * np.pi * rng.uniform(0.2, 0.6) * t))
    f0 *= 1 + 0.01 * np.convolve(rng.standard_normal(n), np.ones(200) / 200, mode="same")
    phase = 2 * np.pi * np.cumsum(f0) / SR
    # Syllables: 3-6 per second, each with its own vowel (F1, F2), separated by short gaps.
    env = np.zeros(n)
    f1 = np.full(n, 500.0)
    f2 = np.full(n, 1500.0)
    pos = 0
    while pos < n:
        syl = int(rng.uniform(0.12, 0.32) * SR)
        gap = int(rng.uniform(0.02, 0.12) * SR) if rng.uniform() < 0.8 else int(rng.uniform(0.2, 0.5) * SR)
        end = min(pos + syl, n)
        env[pos:end] = np.hanning(syl)[: end - pos]
        f1[pos : pos + syl + gap] = rng.uniform(300, 800)
        f2[pos : pos + syl + gap] = rng.uniform(900, 2300)
        pos += syl + gap
    x = np.zeros(n)
    for k in range(1, 31):
        fk = k * f0
        gain = (1 / k) * (np.exp(-(((fk - f1) / 120) ** 2)) + 0.6 * np.exp(-(((fk - f2) / 180) ** 2)) + 0.05)
        x += gain * np.sin(k * phase)
    breath = np.diff(rng.standard_normal(n + 1)) * 0.02
    y = (x / (np.abs(x).max() + 1e-9) * 0.6 + breath) * env
    return y.astype(np.float32)


def _music_phrase(seconds: float, rng: np.random.Generator) -> np.ndarray:
    """Chords, bass, kick and hi-hat on a beat grid: enough spectral variety to look like music."""
    n = int(seconds * SR)
    out = np.zeros(n)
    bpm = rng.uniform(80, 140)
    beat = int(60 / bpm * SR)
    root = rng.choice([45, 48, 50, 52, 55, 57])  # MIDI note of the key
    progression = rng.choice([[0, 5, 7, 5], [0, 9, 5, 7], [0, 7, 9, 5], [0, 3, 8, 10]])
    decay = np.exp(-np.arange(beat * 4) / (0.6 * SR))

    def tone(midi: float, length: int, harmonics: int) -> np.ndarray:
        f = 440 * 2 ** ((midi - 69) / 12)
        tt = np.arange(length) / SR
        return sum(np.sin(2 * np.pi * f * h * tt) / h**1.5 for h in range(1, harmonics + 1))

    for bar, start in enumerate(range(0, n, beat * 4)):
        step = progression[bar % len(progression)]
        length = min(beat * 4, n - start)
        chord = sum(tone(root + 12 + step + iv, length, 6) for iv in (0, 4, 7))
        bass = tone(root - 12 + step, length, 3)
        out[start : start + length] += (0.25 * chord + 0.4 * bass) * decay[:length]
    kick_len = int(0.15 * SR)
    tk = np.arange(kick_len) / SR
    kick = np.sin(2 * np.pi * (50 * tk + 100 * (1 - np.exp(-tk * 30)) / 30)) * np.exp(-tk * 25)
    for i, start in enumerate(range(0, n, beat // 2)):
        if i % 2 == 0:
            m = min(kick_len, n - start)
            out[start : start + m] += 0.8 * kick[:m]
        hat = min(int(0.04 * SR), n - start)
        out[start : start + hat] += 0.08 * np.diff(rng.standard_normal(hat + 1)) * np.exp(-np.arange(hat) / 300)
    return (out / (np.abs(out).max() + 1e-9) * 0.7).astype(np.float32)


def _pools(rng: np.random.Generator) -> tuple[list[np.ndarray], list[np.ndarray], str]:
    speech: list[np.ndarray] = []
    for i, text in enumerate(SENTENCES * 2):
        voice = VOICES[(i * 5 + 3) % len(VOICES)]
        utt = _espeak(text, voice, int(rng.integers(135, 195)), int(rng.integers(25, 75)))
        if utt is None:
            speech = []
            break
        speech.append(utt)
    kind = "espeak-ng"
    if not speech:
        speech = [_synthetic_voice(rng.uniform(2.0, 6.0), rng) for _ in range(24)]
        kind = "synthetic voice"
    music = [_music_phrase(rng.uniform(8.0, 20.0), rng) for _ in range(8)]
    return speech, music, kind


def _segments(
    total: int, rng: np.random.Generator, speech: list[np.ndarray], music: list[np.ndarray]
) -> Iterator[np.ndarray]:
    """Stereo float32 blocks [n, 2] adding up to exactly `total` samples: a varied programme."""
    made = 0

    def talk() -> np.ndarray:
        parts: list[np.ndarray] = []
        for _ in range(int(rng.integers(2, 7))):
            utt = speech[int(rng.integers(len(speech)))]
            parts.append(utt * 10 ** (rng.uniform(-6, 0) / 20))
            parts.append(np.zeros(int(rng.uniform(0.2, 0.8) * SR), np.float32))
        return np.concatenate(parts)

    while made < total:
        r = rng.uniform()
        if r < 0.45:
            mono = talk()
        elif r < 0.75:
            phrase = music[int(rng.integers(len(music)))]
            mono = np.tile(phrase, int(rng.integers(1, 3))) * 10 ** (rng.uniform(-8, 0) / 20)
        elif r < 0.95:
            voice = talk()
            bed = np.resize(music[int(rng.integers(len(music)))], voice.size) * 10 ** (-14 / 20)
            mono = voice + bed
        else:
            mono = np.zeros(int(rng.uniform(0.5, 2.0) * SR), np.float32)
        mono = mono[: total - made]
        theta = np.pi / 4 + rng.uniform(-0.25, 0.25)
        block = np.stack([mono * np.cos(theta), mono * np.sin(theta)], axis=1) * np.sqrt(2)
        block += rng.standard_normal(block.shape) * 10 ** (-62 / 20)  # noise floor: never digital silence
        made += block.shape[0]
        yield block.astype(np.float32)


def make_wav(path: Path, minutes: float, seed: int) -> str:
    """Write the mix as 16-bit stereo WAV, block by block (a 60-min file never sits in memory).

    Returns what the speech was made with ("espeak-ng" or "synthetic voice").
    """
    rng = np.random.default_rng(seed)
    speech, music, kind = _pools(rng)
    tmp = path.with_suffix(".part")
    with wave.open(str(tmp), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(SR)
        for block in _segments(int(minutes * 60 * SR), rng, speech, music):
            w.writeframes((np.clip(block, -0.99, 0.99) * 32767).astype("<i2").tobytes())
    tmp.replace(path)
    return kind


def make_mp3(wav: Path, path: Path, bitrate: int = 192_000) -> None:
    """Re-encode the WAV to MP3 with PyAV (libmp3lame), streaming frame by frame."""
    import av

    tmp = path.with_suffix(".part")
    with av.open(str(wav)) as inp, av.open(str(tmp), "w", format="mp3") as out:
        # compression_level 7: LAME's faster search; a 60-min file encodes in about a minute.
        stream = out.add_stream("mp3", rate=SR, layout="stereo", options={"compression_level": "7"})
        stream.bit_rate = bitrate
        for frame in inp.decode(audio=0):
            frame.pts = None
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    tmp.replace(path)


def test_files(
    workdir: Path, minutes: list[float], formats: list[str], seed: int
) -> tuple[list[tuple[float, str, Path]], set[str]]:
    """(minutes, format, path) per file, and what made the speech; files in `workdir` are reused."""
    files: list[tuple[float, str, Path]] = []
    kinds: set[str] = set()
    for m in minutes:
        stem = f"mix_{m:g}min_seed{seed}"
        wav = workdir / f"{stem}.wav"
        if not wav.exists():
            t0 = time.perf_counter()
            kinds.add(make_wav(wav, m, seed))
            _log(f"generated {wav.name} in {time.perf_counter() - t0:.1f} s")
        for fmt in formats:
            path = workdir / f"{stem}.{fmt}"
            if fmt == "mp3" and not path.exists():
                t0 = time.perf_counter()
                make_mp3(wav, path)
                _log(f"encoded {path.name} in {time.perf_counter() - t0:.1f} s")
            files.append((m, fmt, path))
    return files, kinds or {"reused files"}


# --------------------------------------------------------------------------- measurement


def _maxrss_mb() -> float:
    """Peak RSS of this process; Linux reports KiB, macOS bytes."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def _rss_now_mb() -> float:
    """Current resident set (VmRSS), so 'after load' is not masked by an import-time peak."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return _maxrss_mb()


def detector_ms_per_window(engine: Any, path: Path, n: int = 64) -> dict[str, float]:
    """Each detector's own cost: milliseconds per window over one batch of `n` windows of the file."""
    from synthscope.audio.decode import AudioStream

    win = round(engine.settings.window_s * 16_000)
    parts, have = [], 0
    with AudioStream(path) as stream:  # the first n windows only: no need to decode an hour
        for chunk in stream:
            parts.append(chunk)
            have += len(chunk)
            if have >= n * win:
                break
    x = np.concatenate(parts)
    batch = x[: (len(x) // win) * win].reshape(-1, win)[:n]
    out: dict[str, float] = {}
    for name, det in engine.bundle.detectors.items():
        det.predict(batch[:2])  # warm
        t0 = time.perf_counter()
        det.predict(batch)
        out[name] = 1000 * (time.perf_counter() - t0) / len(batch)
    return out


def child(path: Path, device: str, bundle: Path | None, profile: str = "default") -> None:
    """Runs in a fresh process: load the engine, analyse one file, print one JSON line."""
    t_start = time.perf_counter()
    from synthscope.config import Settings
    from synthscope.engine import Engine

    import_s = time.perf_counter() - t_start
    rss_imports = _rss_now_mb()
    t0 = time.perf_counter()
    engine = Engine.load(Settings(device=device), bundle_path=bundle)  # type: ignore[arg-type]
    load_s = time.perf_counter() - t0
    rss_loaded = _rss_now_mb()
    cuda = device == "cuda"
    if cuda:
        import torch

        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    result = engine.analyze(path, profile=profile)
    if cuda:
        torch.cuda.synchronize()
    wall_s = time.perf_counter() - t0
    report: dict[str, Any] = {
        "import_s": import_s,
        "load_s": load_s,
        "wall_s": wall_s,
        "rss_after_imports_mb": rss_imports,
        "rss_after_load_mb": rss_loaded,
        "peak_rss_mb": _maxrss_mb(),
        "audio_s": result.audio.duration_s,
        "verdict": str(result.verdict),
        "windows": result.summary.windows,
        "timing": result.timing.model_dump(),
        "bundle": f"{engine.bundle.name} {engine.bundle.version}",
        "profile": profile,
        "profile_detectors": engine.bundle.members(profile),
        "realtime_x": result.audio.duration_s / wall_s,
        "detector_ms_per_window": detector_ms_per_window(engine, path),
    }
    if cuda:
        report["cuda_peak_mb"] = torch.cuda.max_memory_allocated() / 2**20
    print("BENCH_RESULT " + json.dumps(report), flush=True)


def run_child(
    path: Path, device: str, bundle: Path | None, timeout: float | None, profile: str = "default"
) -> dict[str, Any]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", str(path), "--device", device]
    cmd += ["--profile", profile]
    if bundle is not None:
        cmd += ["--bundle", str(bundle)]
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=REPO)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout} s"}
    process_s = time.perf_counter() - t0
    for line in proc.stdout.splitlines():
        if line.startswith("BENCH_RESULT "):
            out: dict[str, Any] = json.loads(line.removeprefix("BENCH_RESULT "))
            out["process_s"] = process_s
            return out
    tail = (proc.stderr or proc.stdout).strip().splitlines()[-8:]
    last = tail[-1] if tail else "no output"
    return {"error": f"exit {proc.returncode}: {last}", "stderr_tail": tail}


def cuda_available() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _ratios(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Longest/shortest peak RSS per (device, format): about 1 when memory does not grow with length."""
    out: list[dict[str, Any]] = []
    keys = sorted({(r["device"], r["format"], r.get("profile", "default")) for r in runs})
    for device, fmt, profile in keys:
        ok = [
            r
            for r in runs
            if r["device"] == device
            and r["format"] == fmt
            and r.get("profile", "default") == profile
            and "error" not in r
        ]
        if len(ok) < 2:
            continue
        lo = min(ok, key=lambda r: r["minutes"])
        hi = max(ok, key=lambda r: r["minutes"])
        if lo["minutes"] == hi["minutes"]:
            continue
        growth_lo = lo["peak_rss_mb"] - lo["rss_after_load_mb"]
        growth_hi = hi["peak_rss_mb"] - hi["rss_after_load_mb"]
        out.append(
            {
                "device": device,
                "format": fmt,
                "profile": profile,
                "long_min": hi["minutes"],
                "short_min": lo["minutes"],
                "peak_rss_ratio": hi["peak_rss_mb"] / lo["peak_rss_mb"],
                "analysis_rss_mb": {"short": growth_lo, "long": growth_hi},
            }
        )
    return out


def print_tables(runs: list[dict[str, Any]], ratios: list[dict[str, Any]], info: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    if not console.is_terminal:  # piped to a file: do not squeeze the table into 80 columns
        console = Console(width=170)
    console.print(
        f"[bold]Engine benchmark[/] — {info['cpu_count']} CPU cores, python {info['python']}, "
        f"torch {info['torch']}, test audio: {info['speech_source']}"
    )
    t = Table(title="Analysis (model load excluded; RTF = audio s / wall s)", title_justify="left")
    for col, just in [
        ("device", "left"),
        ("profile", "left"),
        ("format", "left"),
        ("min", "right"),
        ("audio s", "right"),
        ("wall s", "right"),
        ("RTF", "right"),
        ("peak RSS MB", "right"),
        ("RSS after load MB", "right"),
        ("decode ms", "right"),
        ("analyze ms", "right"),
        ("total ms", "right"),
        ("windows", "right"),
        ("verdict", "left"),
    ]:
        t.add_column(col, justify=just)  # type: ignore[arg-type]
    for r in runs:
        if "error" in r:
            t.add_row(
                r["device"], r["profile"], r["format"], f"{r['minutes']:g}", *["–"] * 9, f"[red]{r['error'][-80:]}[/]"
            )
            continue
        tm = r["timing"]
        t.add_row(
            r["device"],
            r["profile"],
            r["format"],
            f"{r['minutes']:g}",
            f"{r['audio_s']:.0f}",
            f"{r['wall_s']:.1f}",
            f"{r['audio_s'] / r['wall_s']:.1f}×",
            f"{r['peak_rss_mb']:.0f}",
            f"{r['rss_after_load_mb']:.0f}",
            f"{tm['decode_ms']:.0f}",
            f"{tm['analyze_ms']:.0f}",
            f"{tm['total_ms']:.0f}",
            str(r["windows"]),
            r["verdict"],
        )
    console.print(t)

    per_det = Table(title="Each detector alone: ms per 3-s window (batch of 64, after warm-up)", title_justify="left")
    per_det.add_column("device")
    names = sorted({n for r in runs if "error" not in r for n in r["detector_ms_per_window"]})
    for n in names:
        per_det.add_column(n, justify="right")
    for device in sorted({r["device"] for r in runs}):
        ok = [r for r in runs if r["device"] == device and "error" not in r]
        if ok:
            med = {n: np.median([r["detector_ms_per_window"][n] for r in ok]) for n in names}
            per_det.add_row(device, *[f"{med[n]:.1f}" for n in names])
    if per_det.row_count:
        console.print(per_det)

    loads = Table(title="Model load (fresh process each run)", title_justify="left")
    for col in ("device", "runs", "import s (median)", "load s (median)", "load s (max)"):
        loads.add_column(col, justify="left" if col == "device" else "right")
    for device in sorted({r["device"] for r in runs}):
        ok = [r for r in runs if r["device"] == device and "error" not in r]
        if not ok:
            continue
        ls = [r["load_s"] for r in ok]
        loads.add_row(
            device,
            str(len(ok)),
            f"{np.median([r['import_s'] for r in ok]):.2f}",
            f"{np.median(ls):.2f}",
            f"{max(ls):.2f}",
        )
    if loads.row_count:
        console.print(loads)

    if ratios:
        rt = Table(title="Peak RSS, longest vs shortest file", title_justify="left")
        for col in ("device", "format", "profile", "files", "peak RSS ratio", "analysis RSS MB (short → long)"):
            rt.add_column(col, justify="left" if col in ("device", "format", "profile") else "right")
        for q in ratios:
            rt.add_row(
                q["device"],
                q["format"],
                q["profile"],
                f"{q['long_min']:g} min / {q['short_min']:g} min",
                f"{q['peak_rss_ratio']:.2f}",
                f"{q['analysis_rss_mb']['short']:.0f} → {q['analysis_rss_mb']['long']:.0f}",
            )
        console.print(rt)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--minutes", type=float, nargs="+", default=[10.0, 60.0], help="lengths of the test files")
    ap.add_argument("--formats", nargs="+", default=["wav", "mp3"], choices=["wav", "mp3"])
    ap.add_argument(
        "--device", default="auto", choices=["auto", "cpu", "cuda"], help="auto = CPU, plus CUDA if present"
    )
    ap.add_argument("--bundle", type=Path, default=None, help="model bundle dir (default: the shipped one)")
    ap.add_argument("--profiles", nargs="+", default=["default", "fast"], help="analysis profiles to time")
    ap.add_argument("--profile", default="default", help=argparse.SUPPRESS)
    ap.add_argument("--workdir", type=Path, default=None, help="keep and reuse the generated audio here")
    ap.add_argument("--seed", type=int, default=SEED)
    ap.add_argument("--timeout", type=float, default=None, help="seconds per run before giving up")
    ap.add_argument("--json", action="store_true", help="print the results as JSON instead of tables")
    ap.add_argument("--child", type=Path, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.child is not None:
        child(args.child, "cpu" if args.device == "auto" else args.device, args.bundle, args.profile)
        return 0

    has_cuda = cuda_available()
    devices = {"auto": ["cpu", "cuda"] if has_cuda else ["cpu"], "cpu": ["cpu"], "cuda": ["cuda"]}[args.device]
    if args.device == "cuda" and not has_cuda:
        _log("CUDA requested but torch.cuda.is_available() is False; nothing to run")
        return 2

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="synthscope-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        files, kinds = test_files(workdir, sorted(set(args.minutes)), args.formats, args.seed)
        speech_source = ", ".join(sorted(kinds))
        runs: list[dict[str, Any]] = []
        for device in devices:
            for profile in args.profiles:
                for minutes, fmt, path in files:
                    _log(f"[{device}, {profile}] analysing {path.name} ({path.stat().st_size / 1e6:.0f} MB)…")
                    r = run_child(path, device, args.bundle, args.timeout, profile)
                    r.update(device=device, minutes=minutes, format=fmt, file=path.name, profile=profile)
                    runs.append(r)
                    if "error" in r:
                        _log(f"  failed: {r['error']}")
                    else:
                        _log(
                            f"  {r['audio_s']:.0f} s of audio in {r['wall_s']:.1f} s "
                            f"({r['realtime_x']:.0f}× realtime), peak RSS {r['peak_rss_mb']:.0f} MB"
                        )
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)

    info = {
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "torch": _torch_version(),
        "cuda": has_cuda,
        "speech_source": speech_source,
        "platform": platform.platform(),
    }
    ratios = _ratios(runs)
    if args.json:
        print(json.dumps({"info": info, "runs": runs, "peak_rss_ratios": ratios}, indent=2))
    else:
        print_tables(runs, ratios, info)
    return 0


def _torch_version() -> str:
    try:
        import torch
    except ImportError:
        return "absent"
    return str(torch.__version__)


if __name__ == "__main__":
    raise SystemExit(main())
