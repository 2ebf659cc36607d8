"""Running a command-line TTS engine and reading the WAV it produces.

espeak-ng, flite and festival are separate programs: each render is one short subprocess
(one core), its WAV read from stdout or from a file in a private temporary folder.
"""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np


def read_wav_bytes(data: bytes) -> tuple[np.ndarray, int]:
    """Parse a PCM16 WAV even when the header's sizes are bogus (espeak --stdout)."""
    if data[:4] != b"RIFF":
        raise RuntimeError("engine produced no WAV data")
    sr = int.from_bytes(data[24:28], "little")
    ch = int.from_bytes(data[22:24], "little") or 1
    i = data.find(b"data", 12)
    pcm = np.frombuffer(data[i + 8 : i + 8 + ((len(data) - i - 8) // 2) * 2], dtype="<i2")
    x = pcm.astype(np.float32) / 32768.0
    return (x.reshape(-1, ch).mean(axis=1) if ch > 1 else x), sr


def run_to_stdout(argv: Sequence[str], stdin: bytes, timeout: float = 120) -> tuple[np.ndarray, int]:
    """Run an engine that writes its WAV to stdout, feeding the text on stdin."""
    r = subprocess.run(list(argv), input=stdin, capture_output=True, check=True, timeout=timeout)
    return read_wav_bytes(r.stdout)


def run_to_file(argv: Callable[[Path], Sequence[str]], timeout: float = 120) -> tuple[np.ndarray, int]:
    """Run an engine that writes a WAV file; `argv(tmpdir)` builds the command, output 'o.wav'."""
    with tempfile.TemporaryDirectory(prefix="synthscope-tts-") as td:
        tmp = Path(td)
        subprocess.run(list(argv(tmp)), check=True, capture_output=True, timeout=timeout)
        return read_wav_bytes((tmp / "o.wav").read_bytes())
