"""Pipeline benchmark: prints figures, asserts nothing (tests never time anything).

Starts the all-in-one server (API + worker + queue, as `make run` does) on a free
127.0.0.1 port with its own data directory, then measures:

1. end-to-end latency of a 30-second clip, upload (PUT) to report `completed`
   (target <= 2 s), over several distinct clips so de-duplication does not help,
   and once more with the same bytes to show the de-duplicated path;
2. `/auth/token` and `/generate-upload-url` under 64 concurrent connections for 20 s
   with wrk (Debian's `wrk`, installed here if missing; Lua scripts for the POST
   bodies): requests/s, p50/p99 latency, errors (targets >= 500 req/s, p99 <= 50 ms, 0 errors);
3. `/report-status` polled by 200 concurrent connections (target: 0 errors).

With `--backend gcp` the same figures are taken from the API and worker processes on the
gcp backends over the Firestore, Cloud Storage and Cloud Tasks emulators (tests/fixtures/gcp_stack.py);
emulator figures say nothing about Google's latency, only about our adapters' overhead.

Loopback only; every phase has a fixed duration. Usage:
    .venv/bin/python bench/pipeline.py [--bundle DIR | --tiny] [--duration 20] [--clips 5] [--backend gcp]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # for tests.fixtures (audio generators, tiny corpus)

from synthscope.client import ApiClient  # noqa: E402
from tests.fixtures.audio import voice_like, write_audio  # noqa: E402
from tests.fixtures.service import API_KEY, Server, free_port, service_env  # noqa: E402

LUA_POST = """
wrk.method = "POST"
wrk.body = [[{body}]]
wrk.headers["Content-Type"] = "application/json"
{headers}
"""


#: The same wrk load against a minimal FastAPI app: the floor this machine sets today (shared CPUs, load).
CALIBRATION_APP = """
import sys
import uvicorn
from fastapi import FastAPI
from pydantic import BaseModel

app = FastAPI()

class Body(BaseModel):
    user_id: str | None = None

class Out(BaseModel):
    access_token: str
    expires_in: int

@app.post("/auth/token", response_model=Out)
async def token(body: Body | None = None) -> Out:
    return Out(access_token="x" * 200, expires_in=900)

uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", access_log=False)
"""


def calibrate(wrk: str, work: Path, seconds: int, script: str) -> dict[str, Any]:
    port = free_port()
    (work / "calibration_app.py").write_text(CALIBRATION_APP)
    proc = subprocess.Popen([sys.executable, str(work / "calibration_app.py"), str(port)], start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                httpx.post(f"http://127.0.0.1:{port}/auth/token", timeout=1, trust_env=False)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        return run_wrk(wrk, f"http://127.0.0.1:{port}/auth/token", connections=64, seconds=seconds, script=script)
    finally:
        proc.terminate()
        proc.wait(10)


def ensure_wrk() -> str:
    exe = shutil.which("wrk")
    if exe:
        return exe
    print("installing wrk (Debian package)...", flush=True)
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    subprocess.run([*sudo, "apt-get", "update", "-qq"], check=False)
    subprocess.run(
        [*sudo, "apt-get", "install", "-y", "-qq", "wrk"],
        check=True,
        env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
    )
    exe = shutil.which("wrk")
    if not exe:
        raise SystemExit("wrk is not available")
    return exe


def tiny_bundle(work: Path) -> Path:
    from synthscope.train.fit import train_bundle
    from tests.fixtures.audio import tiny_corpus

    print("training a tiny bundle for the bench (the shipped one is missing)...", flush=True)
    return train_bundle(
        tiny_corpus(work / "corpus"), work / "bundle", cnn_epochs=2, acoustic_epochs=15, log=lambda _: None
    )


def pick_bundle(args: argparse.Namespace, work: Path) -> tuple[Path, str]:
    if args.bundle:
        return Path(args.bundle), "given"
    shipped = ROOT / "shared" / "synthscope" / "models" / "default"
    if not args.tiny and (shipped / "manifest.json").is_file():
        return shipped, "shipped default"
    return tiny_bundle(work), "tiny (test) bundle"


# -- wrk -------------------------------------------------------------------------------------------------

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4}


def _ms(s: str) -> float:
    m = re.match(r"([\d.]+)(us|ms|s|m)$", s.strip())
    if not m:
        return float("nan")
    return float(m.group(1)) * _UNITS[m.group(2)]


def run_wrk(
    wrk: str, url: str, *, connections: int, seconds: int, script: str | None, threads: int = 2
) -> dict[str, Any]:
    cmd = [wrk, f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", "5s"]
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(script or "")
        lua = f.name
    if script:
        cmd += ["-s", lua]
    out = subprocess.run([*cmd, url], capture_output=True, text=True, timeout=seconds + 60).stdout
    os.unlink(lua)
    res: dict[str, Any] = {"raw": out}
    if m := re.search(r"Requests/sec:\s+([\d.]+)", out):
        res["rps"] = float(m.group(1))
    if m := re.search(r"(\d+) requests in", out):
        res["requests"] = int(m.group(1))
    for pct in ("50", "90", "99"):
        if m := re.search(rf"^\s+{pct}(?:\.000)?%\s+(\S+)", out, re.M):
            res[f"p{pct}"] = _ms(m.group(1))
    res["non2xx"] = int(m.group(1)) if (m := re.search(r"Non-2xx or 3xx responses: (\d+)", out)) else 0
    if m := re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out):
        res["socket_errors"] = sum(int(x) for x in m.groups())
    else:
        res["socket_errors"] = 0
    res["errors"] = res["non2xx"] + res["socket_errors"]
    return res


def show_wrk(name: str, r: dict[str, Any], *, rps_target: float | None, p99_target: float | None) -> None:
    ok = []
    if rps_target is not None:
        ok.append(f"≥{rps_target:.0f} req/s " + ("met" if r.get("rps", 0) >= rps_target else "MISSED"))
    if p99_target is not None:
        ok.append(f"p99 ≤ {p99_target:.0f} ms " + ("met" if r.get("p99", 1e9) <= p99_target else "MISSED"))
    ok.append("0 errors " + ("met" if r["errors"] == 0 else "MISSED"))
    print(
        f"  {name:<26} {r.get('rps', 0):8.0f} req/s   p50 {r.get('p50', float('nan')):6.1f} ms   "
        f"p99 {r.get('p99', float('nan')):6.1f} ms   requests {r.get('requests', 0):6d}   "
        f"errors {r['errors']} (non-2xx/3xx {r['non2xx']}, socket {r['socket_errors']})   [{'; '.join(ok)}]"
    )


# -- end-to-end -------------------------------------------------------------------------------------------


def e2e_once(client: ApiClient, clip: Path) -> dict[str, float]:
    data = clip.read_bytes()
    signed = client.upload_url(clip.name, "audio/mpeg", len(data))
    t0 = time.perf_counter()
    client.put(signed, data)
    t_put = time.perf_counter()
    task = client.create_report(signed["object_name"])
    t_report = time.perf_counter()
    doc = client.wait(task["task_id"], min_interval_s=0.02, max_interval_s=0.02, timeout_s=120)
    t_done = time.perf_counter()
    assert doc["status"] == "completed", doc
    timing = doc["result"]["timing"]
    return {
        "total": t_done - t0,
        "put": t_put - t0,
        "report": t_report - t_put,
        "engine_ms": float(timing["total_ms"]),
    }


class _Stopper:
    def __init__(self, server: Server) -> None:
        self.server = server

    def close(self) -> None:
        self.server.stop()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--bundle", help="model bundle directory (default: the shipped one)")
    p.add_argument("--tiny", action="store_true", help="train and use a tiny test bundle")
    p.add_argument("--duration", type=int, default=20, help="seconds per wrk run (token, upload URL)")
    p.add_argument("--status-duration", type=int, default=10, help="seconds of /report-status polling")
    p.add_argument("--clips", type=int, default=5, help="distinct 30-s clips for the latency figure")
    p.add_argument("--backend", choices=["local", "gcp"], default="local", help="gcp: adapters on the emulators")
    args = p.parse_args()

    wrk = ensure_wrk()
    work = Path(tempfile.mkdtemp(prefix="synthscope-bench-"))
    bundle, bundle_kind = pick_bundle(args, work)
    stack = contextlib.ExitStack()
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}; bundle: {bundle_kind} ({bundle})")
    t = time.perf_counter()
    if args.backend == "gcp":
        from tests.fixtures.gcp_stack import gcp_service, own_emulators

        print("starting the emulators, the worker and the API on the gcp backends ...", flush=True)
        emulators = stack.enter_context(own_emulators(work))
        server = stack.enter_context(
            gcp_service(
                *emulators, work, bundle, extra_env={"SYNTHSCOPE_LOG_LEVEL": "INFO"}, drop_env=("OMP_NUM_THREADS",)
            )
        )
        print(f"  logs: {server.log_path}")
    else:
        port = free_port()
        env = service_env(work / "data", bundle, SYNTHSCOPE_QUEUE_POLL_S="0.5", SYNTHSCOPE_LOG_LEVEL="INFO")
        env.pop("OMP_NUM_THREADS", None)
        server = Server(["-m", "synthscope_api.local", "--port", str(port)], env, work / "server.log", port)
        print(f"starting the all-in-one server on {server.url} (logs: {server.log_path}) ...", flush=True)
        stack.enter_context(contextlib.closing(_Stopper(server)))
        server.start()
    print(f"  ready in {time.perf_counter() - t:.1f} s")
    try:
        client = ApiClient(server.url, api_key=API_KEY, user_id="bench-user")
        # 1. end-to-end latency -----------------------------------------------------------------
        rng = np.random.default_rng(2026)
        clips = [write_audio(work / f"clip{i}.mp3", voice_like(30.0, rng)) for i in range(args.clips + 1)]
        e2e_once(client, clips[-1])  # warm-up (first request paths, page cache)
        runs = [e2e_once(client, c) for c in clips[: args.clips]]
        dedupe = e2e_once(client, clips[0])
        totals = [r["total"] * 1000 for r in runs]
        print("\n1. end-to-end, 30-second mp3, PUT start -> report completed (polling every 20 ms)")
        print(
            f"  distinct clips (n={len(runs)}): median {statistics.median(totals):.0f} ms, "
            f"min {min(totals):.0f} ms, max {max(totals):.0f} ms   "
            f"[target ≤ 2000 ms {'met' if max(totals) <= 2000 else 'MISSED'}]"
        )
        print(
            f"  of which: PUT {statistics.median(r['put'] for r in runs) * 1000:.0f} ms, POST /report "
            f"{statistics.median(r['report'] for r in runs) * 1000:.0f} ms, engine "
            f"{statistics.median(r['engine_ms'] for r in runs):.0f} ms (median)"
        )
        print(f"  same bytes again (de-duplicated): {dedupe['total'] * 1000:.0f} ms")

        # 2. token and upload URL under load -------------------------------------------------------
        print(f"\n2. wrk, 64 connections, {args.duration} s each (2 wrk threads on the same {os.cpu_count()} CPUs)")
        token_lua = LUA_POST.format(body='{"user_id": "bench-user"}', headers=f'wrk.headers["X-Api-Key"] = "{API_KEY}"')
        r_token = run_wrk(wrk, server.url + "/auth/token", connections=64, seconds=args.duration, script=token_lua)
        show_wrk("POST /auth/token", r_token, rps_target=500, p99_target=50)
        upload_lua = LUA_POST.format(
            body='{"file_name": "bench.mp3", "file_type": "audio/mpeg", "size_bytes": 123456}',
            headers=f'wrk.headers["Authorization"] = "Bearer {client.token()}"',
        )
        r_upload = run_wrk(
            wrk, server.url + "/generate-upload-url", connections=64, seconds=args.duration, script=upload_lua
        )
        show_wrk("POST /generate-upload-url", r_upload, rps_target=500, p99_target=50)
        r_floor = calibrate(wrk, work, min(10, args.duration), token_lua)
        show_wrk("(minimal FastAPI app)", r_floor, rps_target=None, p99_target=None)
        print("  ^ calibration: one-endpoint FastAPI app, same wrk load; its p99 is this machine's floor right now")

        # 3. status polling ------------------------------------------------------------------------
        task = client.create_report(client.upload(clips[1]))
        client.wait(task["task_id"], timeout_s=120)
        status_lua = f'wrk.headers["Authorization"] = "Bearer {client.token()}"\n'
        r_status = run_wrk(
            wrk,
            f"{server.url}/report-status/{task['task_id']}",
            connections=200,
            seconds=args.status_duration,
            script=status_lua,
        )
        print(f"\n3. /report-status polled by 200 connections for {args.status_duration} s")
        show_wrk("GET /report-status", r_status, rps_target=None, p99_target=None)
        with httpx.Client(trust_env=False) as h:
            ready = h.get(server.url + "/readyz").json()
        print(f"\nserver still ready after the load: {ready['status']}")
        if any(r["errors"] for r in (r_token, r_upload, r_status)):
            for name, r in (("token", r_token), ("upload", r_upload), ("status", r_status)):
                print(f"--- wrk output ({name}) ---\n{r['raw']}")
        client.close()
    finally:
        stack.close()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
