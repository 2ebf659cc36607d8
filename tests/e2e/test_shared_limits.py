"""Issue 12: limits that hold across instances. Cloud Run runs many API processes; with per-process counters
each one granted the whole budget again. Two API processes on the gcp backends (Firestore emulator) now share
one budget per caller."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fixtures.gcp_stack import gcp_service
from tests.fixtures.service import Server, free_port

pytestmark = pytest.mark.slow


def test_two_api_instances_share_one_token_budget(
    firestore_emu: Any, gcs_emu: Any, tasks_emu: Any, tiny_bundle: Path, tmp_path: Path
) -> None:
    extra = {"SYNTHSCOPE_ANON_TOKEN_RATE": "6/minute", "SYNTHSCOPE_API_SYNC_ANALYZE": "false"}
    with gcp_service(
        firestore_emu, gcs_emu, tasks_emu, tmp_path, tiny_bundle, extra_env=extra, start_worker=False
    ) as first:
        port = free_port()
        api = str(Path(sys.executable).with_name("synthscope-api"))
        second = Server([api, "--host=127.0.0.1", f"--port={port}"], first.env, tmp_path / "second.log", port)
        second.start()
        try:
            with httpx.Client(timeout=30, trust_env=False) as c:
                codes = [c.post(srv.url + "/auth/token").status_code for _ in range(6) for srv in (first, second)]
        finally:
            second.stop()
    # per-process counters would have granted 6 on each instance (all 12)
    assert codes.count(200) == 6 and codes[6:] == [429] * 6, (codes, first.logs())
