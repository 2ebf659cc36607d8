"""Report callbacks: enterprise only, URL rules, signed delivery with retries, verified as a receiver would;
sent before the delivery is answered, outside the engine lock, recorded on the report, and sent again by a
redelivery when the attempt that finished the report died before recording it."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from synthscope import callbacks
from synthscope.auth import apikeys
from synthscope.cli import app as cli
from synthscope.config import Settings
from synthscope.pipeline import Pipeline, Transient
from synthscope_api.app import create_app
from tests.fixtures.audio import voice_like, write_audio
from tests.fixtures.callbacks import STALL, receiver
from tests.integration.test_api import assert_problem, make_settings, token, upload


def test_callback_url_rules() -> None:
    for url in ("http://example.com/x", "ftp://example.com/x", "https://user:pw@example.com/x", "https:///x"):
        with pytest.raises(callbacks.BadCallbackUrl):
            callbacks.check_url(url, local=False)
    for ip in ("127.0.0.1", "10.1.2.3", "192.168.0.1", "169.254.169.254", "[::1]", "[fe80::1]", "0.0.0.0"):
        with pytest.raises(callbacks.BadCallbackUrl):
            callbacks.check_url(f"https://{ip}/hook", local=False)
    assert callbacks.check_url("https://8.8.8.8/hook", local=False)  # a public literal needs no DNS
    assert callbacks.check_url("http://127.0.0.1:9/hook", local=True)  # local mode only


def test_signed_callback_arrives_after_retries(
    tmp_path: Path, tiny_bundle: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = make_settings(tmp_path, tiny_bundle, callback_backoff_s=0.05, callback_attempts=4)
    wav = write_audio(tmp_path / "a.wav", voice_like(5.0, np.random.default_rng(2))).read_bytes()
    with receiver([503, 500]) as rx, TestClient(create_app(settings)) as c:
        url, got = rx.url, rx.got
        state = c.app.state.api  # type: ignore[attr-defined]
        key, _ = apikeys.create(state.backends.accounts, "acme")
        auth = {"Authorization": f"Bearer {key}"}
        free = token(c)
        r = c.post("/report", json={"object_name": upload(c, free, wav), "callback_url": url}, headers=free)
        assert_problem(r, 403, "forbidden")  # not the free tier's
        r = c.post("/report", json={"object_name": upload(c, auth, wav), "callback_url": url}, headers=auth)
        assert r.status_code == 202, r.text
        task_id = r.json()["task_id"]
        pipeline = Pipeline(settings, state.engine, state.backends.blobs, state.backends.reports)
        assert pipeline.process(task_id).kind == "completed"
        # synchronous: by the time the delivery is answered, the callback got its answer and that is recorded
        assert len(got) == 3  # 503, 500, then delivered
        doc = state.backends.reports.get(task_id)
        assert doc["callback"]["state"] == "delivered" and doc["callback"]["detail"] == "HTTP 200"
        assert doc["callback"]["at"].endswith("Z")
        assert "callback" not in c.get(f"/report-status/{task_id}", headers=auth).json()  # internal, not shown
        # a redelivery of a report whose callback is recorded is a pure no-op
        assert pipeline.process(task_id).kind == "duplicate" and len(got) == 3
        assert state.backends.reports.get(task_id) == doc
    body, headers = got[-1]
    monkeypatch.setenv("SYNTHSCOPE_HMAC_SECRET", settings.hmac_secret.get_secret_value())
    secret = CliRunner().invoke(cli, ["keys", "callback-secret", "--org", "acme"]).stdout.strip()
    key_bytes = bytes.fromhex(secret)
    assert callbacks.verify(key_bytes, body, headers)
    assert not callbacks.verify(key_bytes, body + b" ", headers)  # tampered body
    assert not callbacks.verify(callbacks.callback_key(settings, "org:other"), body, headers)  # another org's key
    assert not callbacks.verify(key_bytes, body, headers, now=int(headers["Synthscope-Timestamp"]) + 301)  # stale
    report = json.loads(body)
    assert report["task_id"] == task_id and report["status"] == "completed"
    assert report["tier"] == "enterprise" and report["limited"] is False and report["result"]["detectors"]


@pytest.fixture
def enterprise(tmp_path: Path, tiny_bundle: Path) -> Iterator[dict[str, Any]]:
    """An API app (its engine and stores), an enterprise key, and a way to queue reports with a callback_url."""
    settings = make_settings(tmp_path, tiny_bundle, callback_backoff_s=0.01, callback_attempts=2)
    with TestClient(create_app(settings)) as c:
        state = c.app.state.api  # type: ignore[attr-defined]
        key, _ = apikeys.create(state.backends.accounts, "acme")
        auth = {"Authorization": f"Bearer {key}"}
        rng = np.random.default_rng(7)

        def submit(url: str | None) -> str:
            wav = write_audio(tmp_path / "s.wav", voice_like(3.0, rng)).read_bytes()
            body: dict[str, Any] = {"object_name": upload(c, auth, wav)}
            if url is not None:
                body["callback_url"] = url
            r = c.post("/report", json=body, headers=auth)
            assert r.status_code == 202, r.text
            return str(r.json()["task_id"])

        yield {"settings": settings, "state": state, "submit": submit, "reports": state.backends.reports}


def pipeline_for(env: dict[str, Any], settings: Settings | None = None) -> Pipeline:
    state = env["state"]
    return Pipeline(settings or env["settings"], state.engine, state.backends.blobs, state.backends.reports)


def test_rejected_and_given_up_callbacks_are_recorded_and_the_task_is_done(enterprise: dict[str, Any]) -> None:
    reports, pipeline = enterprise["reports"], pipeline_for(enterprise)
    with receiver([410, 503, 503]) as rx:
        rejected, gave_up = enterprise["submit"](rx.url), enterprise["submit"](rx.url)
        assert pipeline.process(rejected).kind == "completed"
        assert len(rx.got) == 1  # a 4xx is the receiver's verdict: not retried
        assert reports.get(rejected)["callback"]["state"] == "rejected"
        assert reports.get(rejected)["callback"]["detail"] == "HTTP 410"
        assert pipeline.process(gave_up).kind == "completed"  # still done for the queue: the receiver is down
        assert len(rx.got) == 3  # callback_attempts = 2
        record = reports.get(gave_up)["callback"]
        assert record["state"] == "gave_up" and "503" in record["detail"] and "2 attempt" in record["detail"]
        # recorded ends are final: redeliveries send nothing more
        assert [pipeline.process(t).detail for t in (rejected, gave_up)] == ["", ""]
        assert len(rx.got) == 3
        none = enterprise["submit"](None)  # no callback_url: nothing sent, nothing recorded, as before
        assert pipeline.process(none).kind == "completed" and pipeline.process(none).kind == "duplicate"
        assert "callback" not in reports.get(none) and len(rx.got) == 3


def test_failed_reports_are_called_back_too(enterprise: dict[str, Any], tmp_path: Path) -> None:
    reports, state = enterprise["reports"], enterprise["state"]
    with receiver() as rx:
        task_id = enterprise["submit"](rx.url)
        doc = reports.get(task_id)
        state.backends.blobs.delete(doc["object_name"])  # gone before the worker got to it: a permanent failure
        assert pipeline_for(enterprise).process(task_id).kind == "failed"
        assert len(rx.got) == 1 and json.loads(rx.got[0][0])["status"] == "failed"
        assert reports.get(task_id)["callback"]["state"] == "delivered"


def test_callback_retries_do_not_hold_the_engine(enterprise: dict[str, Any]) -> None:
    """While one report's callback hangs, another report is analysed; the first delivery is answered only after its
    callback got its answer."""
    reports, pipeline = enterprise["reports"], pipeline_for(enterprise)
    with receiver([STALL]) as rx:
        slow, other = enterprise["submit"](rx.url), enterprise["submit"](None)
        kinds: list[str] = []
        t = threading.Thread(target=lambda: kinds.append(pipeline.process(slow).kind))
        t.start()
        assert rx.stalled.wait(60)
        assert reports.get(slow)["status"] == "completed" and "callback" not in reports.get(slow)
        t0 = time.monotonic()
        assert pipeline.process(other).kind == "completed"  # the engine lock is free while the callback waits
        assert time.monotonic() - t0 < 30
        assert t.is_alive() and kinds == []  # the first delivery is still waiting for its callback's answer
        rx.release.set()
        t.join(30)
    assert kinds == ["completed"] and reports.get(slow)["callback"]["state"] == "delivered"


def test_a_crash_before_the_callback_is_recorded_is_healed_by_the_redelivery(
    enterprise: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """In-process version of tests/e2e/test_callback_crash.py: the callback step dies after the terminal write."""
    reports, pipeline = enterprise["reports"], pipeline_for(enterprise)
    real = callbacks.deliver
    calls: list[str] = []

    def dies_once(*args: Any, **kw: Any) -> callbacks.Delivery:
        calls.append("call")
        if len(calls) == 1:
            raise RuntimeError("worker died mid-callback")
        return real(*args, **kw)

    monkeypatch.setattr(callbacks, "deliver", dies_once)
    with receiver() as rx:
        task_id = enterprise["submit"](rx.url)
        with pytest.raises(Transient):  # the worker answers 500: the queue retries the task
            pipeline.process(task_id)
        doc = reports.get(task_id)
        assert doc["status"] == "completed" and "callback" not in doc and rx.got == []
        again = pipeline.process(task_id)  # the queue's retry: no new analysis, the callback is sent
        assert (again.kind, again.detail) == ("duplicate", "callback delivered")
        assert len(rx.got) == 1 and json.loads(rx.got[0][0])["task_id"] == task_id
        done = reports.get(task_id)
        assert done["callback"]["state"] == "delivered" and done["attempts"] == 1
        assert done["result"] == doc["result"]
        assert pipeline.process(task_id).detail == "" and len(rx.got) == 1  # and then a pure no-op
