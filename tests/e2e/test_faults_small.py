"""The fault-injection bench (bench/faults.py) on a small run, so the harness keeps working.

20 reports through the local backends with worker processes SIGKILLed mid-analysis and deliveries
duplicated (3 of each, forced): nothing is lost, nothing is produced twice, nothing is wrong.
`make faults` runs the same harness at 1 000 reports on both backends.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


def test_kills_and_duplicate_deliveries_lose_and_duplicate_nothing(tmp_path: Path) -> None:
    out = tmp_path / "faults.json"
    cmd = [sys.executable, str(ROOT / "bench" / "faults.py"), "--reports", "20", "--backend", "local"]
    cmd += ["--kill-rate", "0.15", "--dup-rate", "0.15", "--workers", "2", "--seed", "12", "--json", str(out)]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    s = json.loads(out.read_text())["local"]
    assert (s["completed"], s["failed"], s["lost"], s["duplicated"], s["wrong"]) == (20, 0, 0, 0, 0), s
    assert s["api_mismatch"] == 0 and s["queue"] == {"backlog": 0, "dead": 0}, s
    # the faults really happened: workers killed inside an analysis, and duplicate deliveries sent
    assert s["kills"]["planned"] == 3 and s["kills"]["mid_analysis"] >= 2, s
    assert s["dups"]["sent"] == 3, s
    assert s["max_attempts"] >= 2 and s["workers"]["started"] >= 2 + s["kills"]["mid_analysis"], s
