"""Schemathesis against a live local server (API + worker + queue, billing configured with a test secret).

Every operation in the served OpenAPI document is fuzzed with `--checks all`, positive and negative
data, a bounded number of examples per operation: no 5xx, every response conforming to the schema
(status codes, content types, headers, bodies). Rejections by business rule (quotas, tiers, ownership)
are declared in the schema as problems, so they conform too. Runs the real CLI over real HTTP.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from tests.fixtures import stripe_fake
from tests.fixtures.audio import voice_like, write_audio
from tests.fixtures.service import API_KEY, Server, free_port, running, service_env

SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
MAX_EXAMPLES = 60  # per operation and phase
SEED = 1729


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, tiny_bundle: Path) -> Iterator[tuple[Server, Path]]:
    root = tmp_path_factory.mktemp("schema-fuzz")
    port = free_port()
    with stripe_fake.fake_stripe() as stripe:
        env = service_env(
            root / "data",
            tiny_bundle,
            SYNTHSCOPE_STRIPE_API_KEY=stripe_fake.API_KEY,
            SYNTHSCOPE_STRIPE_WEBHOOK_SECRET=stripe_fake.WEBHOOK_SECRET,
            SYNTHSCOPE_STRIPE_PRICES=json.dumps({"pro": "price_pro_monthly", "enterprise": "price_enterprise"}),
            SYNTHSCOPE_STRIPE_API_BASE=stripe.url,
            SYNTHSCOPE_API_SYNC_ANALYZE="true",
            SYNTHSCOPE_ANON_TOKEN_RATE="100000/minute",
        )
        args = [str(Path(sys.executable).with_name("synthscope")), "serve", "--port", str(port)]
        with running(Server(args, env, root / "server.log", port)) as server:
            yield server, root


#: Rejections no schema can express, per operation (each is a documented problem response of that operation):
#: a file type that doesn't match the file name's extension, bytes that aren't audio, a webhook whose Stripe
#: signature doesn't verify. Schema-valid data may get these and nothing else outside 2xx.
BUSINESS_RULES = {
    "createUploadUrl": ["415"],  # file_type must be one of the MIME types of file_name's extension
    "analyzeFile": ["413", "415", "422"],  # the bytes must be decodable audio within the tier's limits
    "stripeWebhook": ["400"],  # Stripe-Signature must verify over the body
}
DEFAULT_EXPECTED = ["2xx", "401", "403", "404", "409", "429"]


def config(path: Path, task_id: str) -> Path:
    """A schemathesis.toml: the business-rule statuses above, and a real task id so status polling is reached."""
    lines = [f'[parameters]\n"task_id" = "{task_id}"\n']
    for op, statuses in BUSINESS_RULES.items():
        expected = ", ".join(f'"{x}"' for x in DEFAULT_EXPECTED + statuses)
        lines.append(
            f'[[operations]]\ninclude-operation-id = "{op}"\n'
            f"checks.positive_data_acceptance.expected-statuses = [{expected}]\n"
        )
    path.write_text("\n".join(lines))
    return path


def seed_report(url: str, auth: dict[str, str], data: bytes) -> str:
    """Upload a real clip and queue its report: the id the status endpoint is fuzzed with."""
    signed = httpx.post(
        f"{url}/generate-upload-url",
        json={"file_name": "a.wav", "file_type": "audio/wav", "size_bytes": len(data)},
        headers=auth,
        timeout=30,
    ).json()
    httpx.put(signed["upload_url"], content=data, headers=signed["headers"], timeout=30).raise_for_status()
    r = httpx.post(f"{url}/report", json={"object_name": signed["object_name"]}, headers=auth, timeout=30)
    r.raise_for_status()
    return str(r.json()["task_id"])


def run_schemathesis(
    url: str, work: Path, data: bytes, *, max_examples: int, seed: int
) -> subprocess.CompletedProcess[str]:
    """The CLI, as an operator would run it; a caller's bearer token so the authenticated paths are reached."""
    tok = httpx.post(f"{url}/auth/token", json={"user_id": "fuzzer"}, headers={"X-Api-Key": API_KEY}, timeout=30)
    tok.raise_for_status()
    auth = {"Authorization": f"Bearer {tok.json()['access_token']}"}
    cfg = config(work / "schemathesis.toml", seed_report(url, auth, data))
    cmd = [
        str(SCHEMATHESIS),
        "--config-file",
        str(cfg),
        "run",
        f"{url}/openapi.json",
        "--checks",
        "all",
        "--mode",
        "all",
        "--max-examples",
        str(max_examples),
        "--seed",
        str(seed),
        "--phases",
        "examples,coverage,fuzzing",
        "--workers",
        "2",
        "--header",
        f"Authorization: {auth['Authorization']}",
        "--generation-database",
        "none",
        "--request-timeout",
        "60",
        "--no-color",
        "--report",
        "junit",
        "--report-junit-path",
        str(work / "junit.xml"),
    ]
    # cwd: the CLI keeps a cache of crashes it found under .schemathesis/ there
    return subprocess.run(cmd, capture_output=True, text=True, timeout=1200, check=False, cwd=work)


def test_schemathesis_finds_no_server_errors_and_no_schema_violations(live: tuple[Server, Path]) -> None:
    server, root = live
    data = write_audio(root / "a.wav", voice_like(4.0, np.random.default_rng(5))).read_bytes()
    proc = run_schemathesis(server.url, root, data, max_examples=MAX_EXAMPLES, seed=SEED)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-20_000:]
    junit = (root / "junit.xml").read_text()
    assert junit.count("<testcase") >= 11 and "<failure" not in junit and "<error" not in junit
    cases = int(re.search(r"(\d+) generated", out).group(1))  # type: ignore[union-attr]
    assert cases >= 11 * MAX_EXAMPLES, out[-3000:]  # every operation was really exercised
    assert "not_a_server_error" not in out
