"""Tier quotas and concurrency at POST /report (DESIGN §8), in-process on the real SQLite store."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from synthscope.auth.entitlements import grant
from synthscope.auth.quota import period_window
from synthscope.config import TIER_LIMITS, Tier
from synthscope_api.app import create_app
from tests.fixtures.audio import voice_like, write_audio
from tests.integration.test_api import assert_problem, make_settings, token, upload


@pytest.fixture
def wav(tmp_path: Path) -> bytes:
    return write_audio(tmp_path / "a.wav", voice_like(2.0, np.random.default_rng(3))).read_bytes()


def busy_retry(r: object) -> str:
    assert r.status_code == 429  # type: ignore[attr-defined]
    return str(r.headers["Retry-After"])  # type: ignore[attr-defined]


def test_free_quota_concurrency_and_429(tmp_path: Path, wav: bytes) -> None:
    free = TIER_LIMITS[Tier.free]
    assert free.reports_per_period == 20 and free.period == "day"
    with TestClient(create_app(make_settings(tmp_path, None, quotas_enforced=True))) as c:
        reports = c.app.state.api.backends.reports  # type: ignore[attr-defined]
        auth = token(c)
        obj = upload(c, auth, wav)

        def post(headers: dict[str, str]) -> object:
            return c.post("/report", json={"object_name": obj}, headers=headers)

        tasks = []
        for i in range(free.max_concurrent_reports):
            r = post({**auth, "Idempotency-Key": f"k{i}"})
            assert r.status_code == 202, r.text  # type: ignore[attr-defined]
            assert r.headers["RateLimit-Limit"] == "20"  # type: ignore[attr-defined]
            assert r.headers["RateLimit-Remaining"] == str(19 - i)  # type: ignore[attr-defined]
            tasks.append(r.json()["task_id"])  # type: ignore[attr-defined]
        doc = reports.get(tasks[0])
        assert doc["max_duration_s"] == free.max_duration_s and doc["max_file_bytes"] == free.max_file_bytes
        # a replay of an idempotent request is not a new report: the quota is unchanged
        again = post({**auth, "Idempotency-Key": "k0"})
        assert again.status_code == 202 and again.json()["task_id"] == tasks[0]  # type: ignore[attr-defined]
        busy = assert_problem(post({**auth, "Idempotency-Key": "k9"}), 429, "rate-limited")
        assert "at once" in busy["detail"] and int(busy_retry(post(auth))) > 0
        for t in tasks:  # finished reports free their concurrency slots
            assert reports.finish(t, {"status": "failed"}, lease_token=None)
        # the refused request's key was not kept: the same key now makes a new report
        k9 = post({**auth, "Idempotency-Key": "k9"})
        assert k9.status_code == 202 and k9.headers["RateLimit-Remaining"] == "17"  # type: ignore[attr-defined]
        assert reports.finish(k9.json()["task_id"], {"status": "failed"}, lease_token=None)  # type: ignore[attr-defined]
        # a fresh anonymous token from the same IP shares the budget
        for left in range(16, -1, -1):
            auth = token(c)
            obj = upload(c, auth, wav)
            r = post(auth)
            assert r.status_code == 202 and r.headers["RateLimit-Remaining"] == str(left)  # type: ignore[attr-defined]
            assert reports.finish(r.json()["task_id"], {"status": "failed"}, lease_token=None)  # type: ignore[attr-defined]
        over = post(auth)
        doc = assert_problem(over, 429, "rate-limited")
        _, reset_at = period_window("day", time.time())
        retry = int(over.headers["Retry-After"])  # type: ignore[attr-defined]
        assert 0 < retry <= 86_400 and abs(retry - (reset_at - time.time())) < 5
        assert over.headers["RateLimit-Remaining"] == "0" and "per day" in doc["detail"]  # type: ignore[attr-defined]


def test_quotas_follow_the_users_tier(tmp_path: Path, wav: bytes) -> None:
    with TestClient(create_app(make_settings(tmp_path, None, quotas_enforced=True))) as c:
        reports = c.app.state.api.backends.reports  # type: ignore[attr-defined]
        accounts = c.app.state.api.backends.accounts  # type: ignore[attr-defined]
        grant(accounts, "paying", Tier.pro)
        grant(accounts, "bigco", Tier.enterprise)
        pro, ent = token(c, "paying"), token(c, "bigco")
        r = c.post("/report", json={"object_name": upload(c, pro, wav)}, headers=pro)
        assert r.status_code == 202 and r.headers["RateLimit-Limit"] == "1000"
        assert r.headers["RateLimit-Remaining"] == "999"
        assert reports.get(r.json()["task_id"])["max_duration_s"] == TIER_LIMITS[Tier.pro].max_duration_s
        e = c.post("/report", json={"object_name": upload(c, ent, wav)}, headers=ent)
        assert e.status_code == 202 and "RateLimit-Limit" not in e.headers  # enterprise: by contract, no quota
        # a user's budget is the user's own, not the IP's
        anon = token(c)
        a = c.post("/report", json={"object_name": upload(c, anon, wav)}, headers=anon)
        assert a.status_code == 202 and a.headers["RateLimit-Remaining"] == "19"
