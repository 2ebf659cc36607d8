"""`make run` / `synthscope serve`: API, worker and queue in one process, no cloud account needed.

The worker is mounted at /_worker and the SQLite queue's dispatcher delivers to it
over HTTP on the same port, exactly as Cloud Tasks would call a separate worker.
`--no-worker` runs the API and the queue alone (the worker then runs elsewhere,
`synthscope-worker`, at SYNTHSCOPE_WORKER_URL).
"""

from __future__ import annotations

import argparse
import sys

from fastapi import FastAPI

from synthscope import logs
from synthscope.config import Settings, get_settings
from synthscope_api.app import create_app

BANNER = """\
Synthscope is running on {url}  (API + worker + queue; data in {data})

  Analyse a file through the whole pipeline (token -> signed upload -> report -> poll):
      .venv/bin/synthscope submit song.mp3 talk.ogg --api {url}
  Or step by step with curl:
      curl -s -X POST {url}/auth/token
      curl -s -X POST {url}/generate-upload-url -H "Authorization: Bearer $TOKEN" \\
           -H 'Content-Type: application/json' -d '{{"file_name":"a.mp3","file_type":"audio/mpeg","size_bytes":12345}}'
      curl -s -X PUT "$UPLOAD_URL" -H 'Content-Type: audio/mpeg' -H 'x-goog-content-length-range: 0,12345' \\
           -H 'x-goog-if-generation-match: 0' \\
           --data-binary @a.mp3
      curl -s -X POST {url}/report -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \\
           -d '{{"object_name":"$OBJECT_NAME"}}'
      curl -s {url}/report-status/$TASK_ID -H "Authorization: Bearer $TOKEN"
  Synchronous: curl -s -X POST {url}/analyze -H "Authorization: Bearer $TOKEN" -F file=@a.mp3
  API docs: {url}/docs     health: {url}/healthz, {url}/readyz     stop: Ctrl-C
"""


def build_app(settings: Settings, port: int, *, with_worker: bool = True) -> tuple[FastAPI, Settings]:
    if with_worker:  # the queue delivers to the worker mounted on this same server
        settings = settings.model_copy(update={"worker_url": f"http://127.0.0.1:{port}/_worker"})
    if not with_worker:
        return create_app(settings), settings
    from synthscope_worker.app import attach
    from synthscope_worker.app import create_app as create_worker

    return create_app(settings, worker_app=create_worker(settings, embedded=True), attach_worker=attach), settings


def serve(host: str = "127.0.0.1", port: int = 8080, *, with_worker: bool = True) -> None:
    import uvicorn

    settings = get_settings()
    logs.configure(settings.log_level, settings.gcp_project)
    app, settings = build_app(settings, port, with_worker=with_worker)
    url = settings.public_url or f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}"
    print(BANNER.format(url=url, data=settings.data_dir.resolve()), file=sys.stderr, flush=True)
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_config=None,
        access_log=False,
        # asyncio's loop, not uvloop: under saturation uvloop starved some connections for seconds
        # (p99 1.3 s vs 42 ms for the same app here; docs/decisions/0002-services.md).
        loop="asyncio",
        http="httptools",
        timeout_graceful_shutdown=30,
        backlog=2048,
        server_header=False,  # no server/version banner
        proxy_headers=False,  # X-Forwarded-For is read by synthscope.auth.client_ip, per trusted_proxy_hops
    )


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description="Synthscope API + worker + queue in one process")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--no-worker", action="store_true", help="API and queue only; the worker runs elsewhere")
    a = p.parse_args(argv)
    serve(a.host, a.port, with_worker=not a.no_worker)


def main_api(argv: list[str] | None = None) -> None:
    """The API alone (with the local queue's dispatcher when the backend is local)."""
    p = argparse.ArgumentParser(description="Synthscope API")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8080)
    a = p.parse_args(argv)
    serve(a.host, a.port, with_worker=False)


if __name__ == "__main__":
    main()
