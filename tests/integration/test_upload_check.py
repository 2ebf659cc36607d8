"""The GCS object-finalized CloudEvent function, started as the container starts it (`synthscope-upload-check`,
which execs functions-framework) on 127.0.0.1, screening objects in the storage emulator: audio stays,
non-audio and oversize uploads are quarantined. It gets no secret, no database and no queue, as in production."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from synthscope.uploads import new_object_name
from tests.fixtures.audio import voice_like, write_audio
from tests.fixtures.gcp import PROJECT, storage_client
from tests.fixtures.service import free_port

BUCKET = "synthscope-uploads"


@pytest.fixture(scope="module")
def function(gcs_emu: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("fn")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNTHSCOPE_")}
    env.update(
        SYNTHSCOPE_ENVIRONMENT="production",  # no secret is needed even outside local
        SYNTHSCOPE_GCP_PROJECT=PROJECT,
        SYNTHSCOPE_UPLOAD_BUCKET=BUCKET,
        SYNTHSCOPE_MAX_FILE_BYTES="200000",
        STORAGE_EMULATOR_HOST=gcs_emu.url,
        PORT=str(port),
    )
    cmd = [str(Path(sys.executable).parent / "synthscope-upload-check"), "--host=127.0.0.1"]
    log = (root / "fn.log").open("wb")
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, (root / "fn.log").read_text()
            with contextlib.suppress(httpx.HTTPError):
                httpx.get(url, timeout=1, trust_env=False)
                break
            assert time.monotonic() < deadline, "functions-framework did not start"
            time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        log.close()


def finalized(url: str, name: str, size: int) -> httpx.Response:
    """A binary-mode CloudEvent as Eventarc delivers it for google.cloud.storage.object.v1.finalized."""
    headers = {
        "ce-id": uuid.uuid4().hex,
        "ce-specversion": "1.0",
        "ce-type": "google.cloud.storage.object.v1.finalized",
        "ce-source": f"//storage.googleapis.com/projects/_/buckets/{BUCKET}",
        "ce-subject": f"objects/{name}",
        "content-type": "application/json",
    }
    body = {"bucket": BUCKET, "name": name, "size": str(size), "contentType": "audio/wav"}
    return httpx.post(url, json=body, headers=headers, timeout=30, trust_env=False)


def test_non_audio_and_oversize_uploads_are_quarantined(function: str, gcs_emu: Any, tmp_path: Path) -> None:
    bucket = storage_client(gcs_emu.url).bucket(BUCKET)
    wav = write_audio(tmp_path / "a.wav", voice_like(2.0, np.random.default_rng(0))).read_bytes()
    objects = {
        "audio": (new_object_name("anon:f", "a.wav"), wav),
        "html": (new_object_name("anon:f", "b.wav"), b"<html><body>not audio</body></html>\n" * 20),
        "big": (new_object_name("anon:f", "c.wav"), wav + b"\0" * 200_000),
    }
    for name, data in objects.values():
        bucket.blob(name).upload_from_string(data, content_type="audio/wav")
    for name, data in objects.values():
        assert finalized(function, name, len(data)).status_code == 200
    assert bucket.get_blob(objects["audio"][0]) is not None
    for key in ("html", "big"):
        name = objects[key][0]
        assert bucket.get_blob(name) is None
        moved = bucket.get_blob("quarantine/" + name)
        assert moved is not None and moved.metadata["quarantine_reason"]
    assert "text/html" in bucket.get_blob("quarantine/" + objects["html"][0]).metadata["quarantine_reason"]
    # events for quarantined copies or other prefixes are ignored (no loop)
    assert finalized(function, "quarantine/" + objects["html"][0], 10).status_code == 200
    assert bucket.get_blob("quarantine/" + objects["html"][0]) is not None
