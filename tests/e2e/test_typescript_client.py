"""The TypeScript client (clients/typescript, `@synthscope/client`) against a live local server.

`npm ci` once, then: its generated types must match the committed openapi.json (`npm run check-types`), and
its `node --test` suite must pass against `synthscope serve` on a free port (SYNTHSCOPE_URL) with a speech-like
WAV (SYNTHSCOPE_WAV): a whole analyzeFile, a tampered token (401), an abort once queued, the single-use upload
URL, retries of 429/503 only. Skipped only where `node` is not installed; an npm failure fails.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tests.fixtures.audio import voice_like, write_audio
from tests.fixtures.service import API_KEY, Server, free_port, running, service_env

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed"),
]

CLIENT = Path(__file__).resolve().parents[2] / "clients" / "typescript"
LIVE_TESTS = [
    "analyzeFile on a speech-like WAV",
    "a tampered token",
    "aborting once the report is queued",
    "the signed upload URL takes one PUT",
    "a non-retryable 4xx from the API",
    "createToken with the API key",
]


def npm(*args: str, env: dict[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("npm")
    assert exe is not None, "node is installed but npm is not"
    return subprocess.run(
        [exe, *args], cwd=CLIENT, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def passed(r: subprocess.CompletedProcess[str], what: str, extra: str = "") -> str:
    out = r.stdout + r.stderr
    assert r.returncode == 0, f"{what} failed (exit {r.returncode}):\n{out[-6000:]}{extra}"
    return out


@pytest.fixture(scope="module")
def installed() -> Path:
    """`npm ci` from the committed lock file (a failure here fails the tests, it never skips them)."""
    passed(npm("ci", "--no-audit", "--no-fund"), "npm ci")
    return CLIENT


def test_types_match_openapi(installed: Path) -> None:
    out = passed(npm("run", "check-types"), "npm run check-types (src/schema.d.ts vs openapi.json)")
    assert "matches" in out


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, tiny_bundle: Path) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("ts-client")
    port = free_port()
    env = service_env(root / "data", tiny_bundle, SYNTHSCOPE_ANON_TOKEN_RATE="10000/minute")
    args = [str(Path(sys.executable).with_name("synthscope")), "serve", "--port", str(port)]
    with running(Server(args, env, root / "server.log", port)) as srv:
        yield srv


def test_client_against_live_server(installed: Path, server: Server, tmp_path: Path) -> None:
    wav = write_audio(tmp_path / "talk.wav", voice_like(6.0, np.random.default_rng(5)))
    env = {
        **os.environ,
        "SYNTHSCOPE_URL": server.url,
        "SYNTHSCOPE_WAV": str(wav),
        "SYNTHSCOPE_API_KEY": API_KEY,
        "SYNTHSCOPE_LIVE_REQUIRED": "1",  # the live tests fail instead of skipping without the two above
        "NO_COLOR": "1",
    }
    r = npm("test", env=env, timeout=600)
    out = passed(r, f"npm test against {server.url}", f"\n--- server log ---\n{server.logs()[-3000:]}")
    for name in LIVE_TESTS:
        assert name in out, f"live test {name!r} did not run:\n{out[-4000:]}"
