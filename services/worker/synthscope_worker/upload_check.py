"""CloudEvent entry for GCS "object finalized" on the upload bucket (functions-framework).

Deployed as its own small Cloud Run service (the worker image, command `synthscope-upload-check`) behind an
Eventarc trigger: non-audio or oversize uploads are quarantined before anyone submits them (see
`synthscope.upload_screen`). It loads no model and holds no secret; Cloud Run's IAM admits only the
trigger's service account. Locally: `synthscope-upload-check --host 127.0.0.1 --port 8090`.
"""

from __future__ import annotations

import argparse
import functools
import logging
import os
import shutil
import sys
from pathlib import Path
from typing import Any

import functions_framework

from synthscope import logs
from synthscope.backends import build_upload_screen_store
from synthscope.config import TIER_LIMITS, ScreenSettings, Tier
from synthscope.ports import BlobStore
from synthscope.upload_screen import Screened, screen_object

log = logging.getLogger("synthscope.upload_check")


@functools.cache
def _store() -> tuple[ScreenSettings, BlobStore]:
    settings = ScreenSettings()
    logs.configure(settings.log_level, settings.gcp_project)
    return settings, build_upload_screen_store(settings)


def handle(event_data: dict[str, Any], settings: ScreenSettings, blobs: BlobStore) -> Screened:
    """The work of one event; separate from the decorator so it can run with any settings."""
    if event_data.get("bucket") not in (None, blobs.bucket):
        return Screened(str(event_data.get("name", "")), "ignored", "another bucket")
    size = event_data.get("size")
    max_bytes = min(settings.max_file_bytes, TIER_LIMITS[Tier.enterprise].max_file_bytes)
    return screen_object(blobs, str(event_data["name"]), int(size) if size is not None else None, max_bytes=max_bytes)


@functions_framework.cloud_event
def on_upload_finalized(cloud_event: Any) -> None:
    settings, blobs = _store()
    outcome = handle(cloud_event.data, settings, blobs)
    log.info("upload screened", extra={"object_name": outcome.object_name, "action": outcome.action})


def main(argv: list[str] | None = None) -> None:
    """Container entry: exec functions-framework on this file, so the server is PID 1 and gets SIGTERM."""
    parser = argparse.ArgumentParser(prog="synthscope-upload-check", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8080")))
    args = parser.parse_args(argv)
    beside = Path(sys.executable).parent / "functions-framework"  # same venv, whatever PATH says
    exe = str(beside) if beside.exists() else shutil.which("functions-framework")
    if exe is None:
        raise SystemExit("functions-framework is not installed")
    os.execv(
        exe,
        [
            exe,
            "--target=on_upload_finalized",
            "--signature-type=cloudevent",
            f"--source={__file__}",
            f"--host={args.host}",
            f"--port={args.port}",
        ],
    )
