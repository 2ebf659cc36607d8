"""Fault injection at scale: N reports through the pipeline while workers are SIGKILLed and deliveries duplicated.

Per backend (local: SQLite store and queue, local blobs, as tests/fixtures/service.py runs them; gcp: Firestore,
Cloud Storage and Cloud Tasks emulators, tests/fixtures/gcp_stack.py) N distinct 2-3 s clips are submitted
(profile `fast`, the shipped bundle), --window at a time, to --workers worker processes sharing the worker URL's
port (SO_REUSEPORT: instances behind one address). Faults, chosen per report from --seed:
- kill: when the store shows the report's first attempt `analyzing`, the process holding its lease (the pid in
  the lease token) is SIGKILLed from here and a replacement started. A 2-3 s clip is analysed in ~10 ms, too fast
  to catch, so these workers make each analysis --analysis-delay s longer (none knows what will be killed).
- duplicate: the same payload enqueued again under another task name (SQLite queue / Cloud Tasks), right after
  the submission, mid-analysis or after the report finished.
Lost: not terminal within --deadline, or vanished. Duplicated: two terminal log lines for a task (all worker
logs), a finished report written again, or two reports for one submission. Wrong: the result of other bytes.
Max attempts: claims, as the store counts them. Exit status 1 when anything is lost, duplicated or wrong.

    .venv/bin/python bench/faults.py [--reports 1000] [--kill-rate 0.1] [--dup-rate 0.1] [--backend both]
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import logging
import shutil
import socket
import sqlite3
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # for tests.fixtures (servers, emulators, audio)

from tests.fixtures.service import API_KEY, Server, free_port, running, service_env  # noqa: E402

BUNDLE = ROOT / "shared" / "synthscope" / "models" / "default"
TERMINAL = ("completed", "failed")
COMMON_ENV = {
    "SYNTHSCOPE_LEASE_S": "3",  # a killed attempt's report is claimable again 3 s later
    "SYNTHSCOPE_QUEUE_MAX_ATTEMPTS": "100",  # deliveries refused while workers restart must not dead-letter
    "SYNTHSCOPE_API_SYNC_ANALYZE": "false",
    "SYNTHSCOPE_LOG_LEVEL": "INFO",
}


def worker_main(argv: list[str]) -> None:
    """`faults.py _worker P H S`: the worker app on the shared port P (SO_REUSEPORT)
    and a port of its own H (its readiness), each analysis batch S seconds slower."""
    port, health_port, delay = int(argv[0]), int(argv[1]), float(argv[2])
    import uvicorn

    from synthscope import logs
    from synthscope.config import get_settings
    from synthscope.engine import Engine
    from synthscope_worker.app import create_app

    real = Engine.analyze

    def analyze(self: Engine, path: Path, progress: Callable[[int, int | None], None] | None = None, **kw: Any) -> Any:
        def slower(done: int, total: int | None) -> None:
            if progress is not None:
                progress(done, total)  # called after each batch; the pipeline's first call writes `analyzing`
            time.sleep(delay)

        return real(self, path, progress=slower, **kw)

    Engine.analyze = analyze  # type: ignore[method-assign]
    shared, own = socket.socket(), socket.socket()
    shared.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    shared.bind(("127.0.0.1", port))  # listens (joins the port's group) only once the engine is loaded
    own.bind(("127.0.0.1", health_port))
    settings = get_settings()
    logs.configure(settings.log_level, settings.gcp_project)
    config = uvicorn.Config(create_app(settings), log_config=None, access_log=False, loop="asyncio", http="httptools")
    uvicorn.Server(config).run(sockets=[shared, own])


class Workers:
    """Worker processes on one port; `kill(pid)` SIGKILLs one and starts its replacement (start-up takes seconds,
    so the others keep the queue served meanwhile)."""

    def __init__(self, env: dict[str, str], log_dir: Path, port: int, delay: float) -> None:
        self.env, self.log_dir, self.port, self.delay = env, log_dir, port, delay
        self.lock = threading.Lock()
        self.started: list[Server] = []
        self.errors: list[str] = []
        self.closing = False

    def start(self, n: int) -> None:
        with ThreadPoolExecutor(n) as pool:
            list(pool.map(lambda _: self._new(), range(n)))
        if self.errors:
            raise RuntimeError(f"workers did not start: {self.errors}")

    def _new(self) -> None:
        with self.lock:
            if self.closing:
                return
            own = free_port()
            args = [__file__, "_worker", str(self.port), str(own), str(self.delay)]
            s = Server(args, self.env, self.log_dir / f"worker{len(self.started) + 1}.log", own)
            self.started.append(s)
        try:
            s.start()
        except Exception as exc:  # a start cut short by stop() is no error
            self.errors += [] if self.closing else [str(exc)[-500:]]
        if self.closing:
            s.stop()

    def kill(self, pid: int) -> bool:
        with self.lock:
            victim = next((s for s in self.started if s.proc and s.proc.poll() is None and s.pid == pid), None)
        if victim is not None:
            victim.kill()  # SIGKILL, then a replacement joins the port
            threading.Thread(target=self._new, daemon=True).start()
        return victim is not None

    def stop(self) -> None:
        self.closing = True  # read under the lock by `_new`
        for s in self.started:
            s.stop()


def _norm(task_id: str, status: str, attempts: Any, lease: Any, doc: dict[str, Any]) -> dict[str, Any]:
    """What the bench reads of a report, the same from either store (`written` changes with any write)."""
    result = doc.get("result") or {}
    written = json.dumps([doc.get("updated_at"), result], sort_keys=True, default=str)
    return {
        **{"task_id": task_id, "status": status, "stage": doc.get("stage"), "attempts": int(attempts or 0)},
        **{"lease": str(lease or ""), "object_name": doc.get("object_name"), "written": written},
        **{"sha": (result.get("audio") or {}).get("sha256"), "error": (doc.get("error") or {}).get("detail")},
    }


class Store:
    """The bench's view of a backend: reports read straight from the store (`docs`, `all_docs`), the queue's
    `backlog` (not yet delivered, given up), and a duplicate: the same payload enqueued under another task name."""

    queue: Any

    def duplicate(self, task_id: str) -> None:
        self.queue.enqueue(f"{task_id}~dup", {"task_id": task_id})


class LocalStore(Store):
    def __init__(self, data: Path) -> None:
        from synthscope.backends.local.queue import SqliteTaskQueue

        self.db = sqlite3.connect(data / "reports.db", timeout=10, isolation_level=None)
        self.queue = SqliteTaskQueue(data / "queue.db")

    def _rows(self, where: str, params: list[str]) -> list[dict[str, Any]]:
        rows = self.db.execute(f"SELECT task_id, status, attempts, lease_token, doc FROM reports {where}", params)
        return [_norm(t, s, a, lease, json.loads(d)) for t, s, a, lease, d in rows.fetchall()]

    def docs(self, ids: list[str]) -> dict[str, dict[str, Any]]:
        return {r["task_id"]: r for r in self._rows(f"WHERE task_id IN ({','.join('?' * len(ids))})", ids)}

    def all_docs(self) -> list[dict[str, Any]]:
        return self._rows("", [])

    def backlog(self) -> tuple[int, int]:
        rows = dict(self.queue.db.conn().execute("SELECT state, COUNT(*) FROM tasks GROUP BY state").fetchall())
        return rows.get("pending", 0) + rows.get("leased", 0), rows.get("dead", 0)


class GcpStore(Store):
    def __init__(self, env: dict[str, str], firestore_host: str, tasks: Any) -> None:
        from synthscope.backends.gcp.queue import CloudTasksQueue
        from tests.fixtures.gcp import PROJECT, firestore_client
        from tests.fixtures.gcp_stack import INVOKER, LOCATION

        self.db = firestore_client(firestore_host)
        self.col = self.db.collection(f"{env['SYNTHSCOPE_FIRESTORE_PREFIX']}reports")
        self.tasks, self.qname, url = tasks, env["SYNTHSCOPE_QUEUE_NAME"], env["SYNTHSCOPE_WORKER_URL"]
        where = {"project": PROJECT, "location": LOCATION, "queue": self.qname}
        self.queue = CloudTasksQueue(tasks.client(), **where, worker_url=url, invoker_email=INVOKER)

    def _row(self, snap: Any) -> dict[str, Any]:
        raw = snap.to_dict() or {}
        return _norm(snap.id, raw.get("status", ""), raw.get("attempts"), raw.get("_lease_token"), raw)

    def docs(self, ids: list[str]) -> dict[str, dict[str, Any]]:
        return {s.id: self._row(s) for s in self.db.get_all([self.col.document(i) for i in ids]) if s.exists}

    def all_docs(self) -> list[dict[str, Any]]:
        return [self._row(s) for s in self.col.stream()]

    def backlog(self) -> tuple[int, int]:
        queues = self.tasks.state._queue_tasks  # the emulator's own pending lists (it has no ListTasks)
        return sum(len(t) for q, t in list(queues.items()) if q.endswith(f"/queues/{self.qname}")), 0


@contextlib.contextmanager
def stack(kind: str, work: Path, args: argparse.Namespace) -> Iterator[tuple[Any, Workers, str]]:
    """The API (and for gcp the emulators) and the workers up; yields (store view, workers, API URL)."""
    with contextlib.ExitStack() as es:
        if kind == "local":
            wport, port = free_port(), free_port()
            env = service_env(work / "data", BUNDLE, **COMMON_ENV, SYNTHSCOPE_WORKER_URL=f"http://127.0.0.1:{wport}")
            cmd = ["-m", "synthscope_api.local", "--no-worker", "--port", str(port)]
            api = es.enter_context(running(Server(cmd, env, work / "api.log", port)))
            store: Store = LocalStore(work / "data")
        else:
            from tests.fixtures.gcp_stack import gcp_service, own_emulators

            logging.getLogger("gcloud-tasks-emulator").setLevel(logging.CRITICAL)  # refused dispatches are expected
            fs, gcs, tasks = es.enter_context(own_emulators(work))
            api = es.enter_context(gcp_service(fs, gcs, tasks, work, BUNDLE, extra_env=COMMON_ENV, start_worker=False))
            env, wport = api.env, int(api.env["SYNTHSCOPE_WORKER_URL"].rsplit(":", 1)[1])
            store = GcpStore(env, fs.host, tasks)
        workers = Workers(env, work, wport, args.analysis_delay)
        es.callback(workers.stop)
        workers.start(args.workers)
        yield store, workers, api.url


@dataclass
class Track:
    task_id: str
    sha: str
    t0: float
    kill: bool
    dup: str  # "" or when the duplicate is enqueued: early | mid | late
    killed: str = ""  # "" | mid-analysis | after-finish (the kill landed just after the finish)
    dup_sent: bool = False
    final: dict[str, Any] | None = None


def submit(client: Any, i: int, seed: int, clips: Path) -> tuple[str, str]:
    """Upload a distinct clip (its own seed) and POST /report with the fast profile; (task id, sha256)."""
    from tests.fixtures.audio import voice_like, write_audio

    rng = np.random.default_rng([seed, i])
    path = write_audio(clips / f"clip{i:05d}.wav", voice_like(float(rng.uniform(2.0, 3.0)), rng))
    body = {"object_name": client.upload(path), "profile": "fast"}
    doc = client._check(client.http.post(f"{client.base}/report", json=body, headers=client.auth())).json()
    return str(doc["task_id"]), hashlib.sha256(path.read_bytes()).hexdigest()


def run(kind: str, args: argparse.Namespace, progress: Any) -> dict[str, Any]:
    """Submit, watch, kill, duplicate; then drain the queue and judge from the store, the API and the logs."""
    from synthscope.client import ApiClient

    work = Path(tempfile.mkdtemp(prefix=f"synthscope-faults-{kind}-"))
    n, rng = args.reports, np.random.default_rng(args.seed)
    rates = (args.kill_rate, args.dup_rate)  # exactly round(n * rate) reports each, even in a small run
    kills, dups = ({int(i) for i in rng.choice(n, min(n, round(n * r)), replace=False)} for r in rates)
    when = rng.choice(["early", "mid", "late"], n)
    bar = progress.add_task(f"{kind}: starting", total=n)
    tracks: dict[str, Track] = {}
    lost: dict[str, str] = {}
    with stack(kind, work, args) as (store, workers, url):
        client = ApiClient(url, api_key=API_KEY, user_id="faults-bench")
        t_start, todo, live = time.monotonic(), list(range(n)), set[str]()

        def dup(tr: Track) -> None:
            tr.dup_sent = True
            store.duplicate(tr.task_id)

        while todo or live:
            while todo and len(live) < args.window:
                i = todo.pop(0)
                tid, sha = submit(client, i, args.seed, work / "clips")
                tracks[tid] = tr = Track(tid, sha, time.monotonic(), i in kills, str(when[i]) if i in dups else "")
                live.add(tid)
                if tr.dup == "early":
                    dup(tr)  # races the first delivery
            docs = store.docs(sorted(live))
            for tid in sorted(live):
                tr, d = tracks[tid], docs.get(tid)
                if d is None or d["status"] in TERMINAL:
                    live.discard(tid)
                    tr.final = d
                    if d is None:
                        lost[tid] = "vanished from the store"
                    elif tr.dup and not tr.dup_sent:
                        dup(tr)  # late (or a `mid` whose analysis went by unseen)
                    continue
                if d["stage"] == "analyzing":
                    if tr.dup == "mid" and not tr.dup_sent:
                        dup(tr)
                    if tr.kill and not tr.killed and d["attempts"] == 1 and d["lease"]:
                        pid = int(d["lease"].rsplit(":", 1)[0].rsplit("-", 2)[1])  # token: host-pid-hex:random
                        if workers.kill(pid):
                            after = store.docs([tid]).get(tid) or {}
                            tr.killed = "after-finish" if after.get("status") in TERMINAL else "mid-analysis"
                if time.monotonic() - tr.t0 > args.deadline:
                    live.discard(tid)
                    lost[tid] = f"still {d['status']}/{d['stage']} after {args.deadline:.0f} s"
            n_kills, n_dups = sum(bool(t.killed) for t in tracks.values()), sum(t.dup_sent for t in tracks.values())
            desc = f"{kind}: {n_kills} kills, {n_dups} duplicates, {len(lost)} lost"
            progress.update(bar, completed=n - len(todo) - len(live), description=desc)
            time.sleep(0.02)
        wall = time.monotonic() - t_start
        quiet, deadline = 0.0, time.monotonic() + 120  # late duplicates and retries delivered before judging
        while quiet < 1.5 and time.monotonic() < deadline:
            quiet = quiet + 0.25 if store.backlog()[0] == 0 else 0.0
            time.sleep(0.25)
        queue = store.backlog()
        final = {d["task_id"]: d for d in store.all_docs()}
        api_view = {t: (client.status(t)[0] or {}).get("status") for t in tracks}
        client.close()
    logs = [json.loads(x) for f in sorted(work.glob("worker*.log")) for x in f.read_text().splitlines() if x[:1] == "{"]
    if args.keep:
        print(f"{kind}: logs and data kept in {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)

    terminal_lines = Counter(e["task_id"] for e in logs if e.get("outcome") in TERMINAL and "task_id" in e)
    done = [t for t in tracks.values() if t.final]
    multi_logged = sorted(t for t, c in terminal_lines.items() if c > 1)
    rewritten = sorted(t.task_id for t in done if final.get(t.task_id, {}).get("written") != (t.final or {})["written"])
    per_submission = Counter(d["object_name"] for d in final.values())
    extra = sum(c - 1 for c in per_submission.values()) + sum(1 for t in final if t not in tracks)
    failed = Counter(str(t.final["error"]) for t in done if t.final and t.final["status"] == "failed")
    completed = [t for t in done if t.final and t.final["status"] == "completed"]
    attempts = Counter(d["attempts"] for d in final.values())
    killed = Counter(t.killed[:6] for t in tracks.values() if t.kill)
    sent = Counter(t.dup for t in tracks.values() if t.dup_sent)
    return {
        "backend": kind,
        "reports": n,
        "completed": len(completed),
        "failed": sum(failed.values()),
        "lost": len(lost),
        "duplicated": len(set(multi_logged) | set(rewritten)) + extra,
        "max_attempts": max(attempts, default=0),
        "wrong": sum(1 for t in completed if t.final and t.final["sha"] != t.sha),
        "api_mismatch": sum(1 for t, st in api_view.items() if st != final.get(t, {}).get("status")),
        "detail": {"failed": dict(failed), "lost": lost, "2 terminal log lines": multi_logged, "rewritten": rewritten},
        "attempts": {str(a): c for a, c in sorted(attempts.items())},
        "kills": {"planned": len(kills), "mid_analysis": killed["mid-an"], "after_finish": killed["after-"]},
        "dups": {"sent": sum(sent.values()), **sent},
        "unlogged_terminal": sum(1 for t in done if terminal_lines[t.task_id] == 0),
        "workers": {"started": len(workers.started), "errors": workers.errors},
        "queue": {"backlog": queue[0], "dead": queue[1]},
        "wall_s": round(wall, 1),
    }


def show(s: dict[str, Any]) -> None:
    k, q = s["kills"], s["queue"]
    print(
        f"\n{s['backend']}: completed {s['completed']} / lost {s['lost']} / duplicated results {s['duplicated']}"
        f" / max attempts {s['max_attempts']}   (of {s['reports']}; failed {s['failed']}; wall {s['wall_s']} s,"
        f" {s['reports'] / max(s['wall_s'], 1e-9):.1f} reports/s)\n"
        f"  faults: {k['mid_analysis']} of {k['planned']} planned kills SIGKILLed a worker mid-analysis"
        f" ({k['after_finish']} landed just after the finish, {k['planned'] - k['mid_analysis'] - k['after_finish']}"
        f" never seen analysing); duplicate deliveries {s['dups']};"
        f" {s['workers']['started']} worker processes started\n"
        f"  checks: wrong results {s['wrong']}; API/store status mismatches {s['api_mismatch']}; attempts"
        f" {s['attempts']}; finished without a terminal log line {s['unlogged_terminal']}; queue backlog"
        f" {q['backlog']}, dead-lettered {q['dead']}"
    )
    if details := {k: v for k, v in [*s["detail"].items(), ("worker errors", s["workers"]["errors"])] if v}:
        print("  details:", json.dumps(details, indent=1)[:5000])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--reports", type=int, default=1000)
    p.add_argument("--kill-rate", type=float, default=0.1, help="share of reports whose first attempt is SIGKILLed")
    p.add_argument("--dup-rate", type=float, default=0.1, help="share of reports delivered twice")
    p.add_argument("--backend", choices=["local", "gcp", "both"], default="both")
    p.add_argument("--seed", type=int, default=2026)
    p.add_argument("--window", type=int, default=8, help="reports in flight at once")
    p.add_argument("--workers", type=int, default=3, help="worker processes serving the queue at once")
    p.add_argument("--analysis-delay", type=float, default=0.15, help="seconds added to each analysis (module doc)")
    p.add_argument("--deadline", type=float, default=180.0, help="seconds for a report to end before it is lost")
    p.add_argument("--json", type=Path, help="also write the figures here")
    p.add_argument("--keep", action="store_true", help="keep each run's logs and data")
    args = p.parse_args(argv)
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    out: dict[str, dict[str, Any]] = {}
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()) as bar:
        for kind in ["local", "gcp"] if args.backend == "both" else [args.backend]:
            out[kind] = run(kind, args, bar)
    for s in out.values():
        show(s)
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))
    bad = [s for s in out.values() if s["lost"] or s["duplicated"] or s["wrong"] or s["api_mismatch"]]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(worker_main(sys.argv[2:]) if sys.argv[1:2] == ["_worker"] else main())
