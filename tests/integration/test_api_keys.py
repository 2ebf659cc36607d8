"""Enterprise API keys: the admin CLI creates, lists and revokes them; the API accepts them as bearer credentials,
rate-limits per key and per IP, and answers 401 at once after a revocation."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from synthscope.auth import apikeys
from synthscope.cli import app as cli
from synthscope_api.app import create_app
from tests.fixtures.audio import voice_like, write_audio
from tests.integration.test_api import assert_problem, make_settings, token, upload


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SYNTHSCOPE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("SYNTHSCOPE_BACKEND", "local")
    return tmp_path


def run(*args: str) -> tuple[str, str]:
    r = CliRunner().invoke(cli, list(args))
    assert r.exit_code == 0, r.output
    return r.stdout, r.stderr


def test_cli_keys_and_revoked_key_is_401(env: Path) -> None:
    key, note = run("keys", "create", "--org", "acme", "--name", "ci")
    key = key.strip()
    assert key.startswith("ssk_") and "key id" in note
    key_id = key.split("_")[1]
    listed = [json.loads(line) for line in run("keys", "list", "--org", "acme")[0].splitlines()]
    assert listed == [{"key_id": key_id, "org": "acme", "name": "ci", "created_at": listed[0]["created_at"],
                       "revoked_at": None}]  # fmt: skip
    assert key not in (env / "reports.db").read_bytes().decode(errors="ignore")  # only the hash is stored

    wav = write_audio(env / "a.wav", voice_like(2.0, np.random.default_rng(1))).read_bytes()
    with TestClient(create_app(make_settings(env, None, quotas_enforced=True))) as c:
        auth = {"Authorization": f"Bearer {key}"}
        obj = upload(c, auth, wav)
        r = c.post("/report", json={"object_name": obj}, headers=auth)
        assert r.status_code == 202 and "RateLimit-Limit" not in r.headers  # enterprise: no counted quota
        doc = c.app.state.api.backends.reports.get(r.json()["task_id"])  # type: ignore[attr-defined]
        assert doc["owner"] == "org:acme" and doc["submitted_tier"] == "enterprise"
        assert c.get(r.json()["status_url"], headers=auth).status_code == 200
        # another key of the same organisation sees the organisation's reports
        other, _ = run("keys", "create", "--org", "acme")
        assert c.get(r.json()["status_url"], headers={"Authorization": f"Bearer {other.strip()}"}).status_code == 200
        assert_problem(c.get(r.json()["status_url"], headers=token(c)), 404)  # nobody else does

        assert run("keys", "revoke", key_id)[0].strip() == f"revoked {key_id}"
        assert_problem(c.post("/generate-upload-url", json={}, headers=auth), 401, "unauthorized")
        assert_problem(c.get(r.json()["status_url"], headers=auth), 401)
        forged = key[:-4] + ("AAAA" if not key.endswith("AAAA") else "BBBB")
        assert_problem(c.get(r.json()["status_url"], headers={"Authorization": f"Bearer {forged}"}), 401)
    assert json.loads(run("keys", "list")[0].splitlines()[0])["revoked_at"] is not None
    assert CliRunner().invoke(cli, ["keys", "revoke", key_id]).exit_code == 1  # already revoked


def test_api_keys_are_rate_limited_per_key_and_per_ip(env: Path) -> None:
    settings = make_settings(env, None, api_key_rate="3/minute", api_key_ip_rate="5/minute")
    with TestClient(create_app(settings)) as c:
        store = c.app.state.api.backends.accounts  # type: ignore[attr-defined]
        k1, _ = apikeys.create(store, "acme")
        k2, _ = apikeys.create(store, "acme")
        h1, h2 = {"Authorization": f"Bearer {k1}"}, {"Authorization": f"Bearer {k2}"}
        for _ in range(3):
            assert c.get("/billing/subscription", headers=h1).status_code == 403  # authenticated (not a user)
        limited = c.get("/billing/subscription", headers=h1)
        assert_problem(limited, 429, "rate-limited") and int(limited.headers["Retry-After"]) > 0
        assert c.get("/billing/subscription", headers=h2).status_code == 403  # the other key has its own budget
        # the IP budget (5) counts every key-bearing request from this address, valid or not: 6th is refused
        assert_problem(c.get("/billing/subscription", headers={"Authorization": "Bearer ssk_bad"}), 429)


def test_batch_is_enterprise_only_and_reports_each_item(env: Path) -> None:
    wav = write_audio(env / "b.wav", voice_like(2.0, np.random.default_rng(4))).read_bytes()
    with TestClient(create_app(make_settings(env, None))) as c:
        store = c.app.state.api.backends.accounts  # type: ignore[attr-defined]
        key, _ = apikeys.create(store, "acme")
        auth = {"Authorization": f"Bearer {key}"}
        objs = [upload(c, auth, wav, name=f"f{i}.wav") for i in range(3)]
        free = token(c)
        assert_problem(c.post("/reports:batch", json={"object_names": objs}, headers=free), 403, "forbidden")
        assert_problem(c.post("/reports:batch", json={"object_names": ["x"] * 101}, headers=auth), 422)
        assert_problem(c.post("/reports:batch", json={"object_names": []}, headers=auth), 422)
        stranger = upload(c, free, wav)  # someone else's object: that item fails, the rest are queued
        r = c.post("/reports:batch", json={"object_names": [*objs, stranger]}, headers=auth)
        assert r.status_code == 202, r.text
        body = r.json()
        assert body["queued"] == 3 and body["failed"] == 1
        assert body["items"][3]["error"]["status"] == 404 and body["items"][3]["task_id"] is None
        for item, obj in zip(body["items"][:3], objs, strict=True):
            assert item["object_name"] == obj and item["status"] == "queued"
            assert c.get(item["status_url"], headers=auth).json()["status"] == "queued"
