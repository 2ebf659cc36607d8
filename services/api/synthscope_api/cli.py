"""`synthscope serve`: the API's command in the core CLI (registered through the `synthscope.commands` entry point,
so the core package never imports the services)."""

from __future__ import annotations

from typing import Annotated

import typer


def serve(
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1")] = 8080,
    host: Annotated[str, typer.Option(help="Interface to bind")] = "127.0.0.1",
    no_worker: Annotated[bool, typer.Option("--no-worker", help="API and queue only")] = False,
) -> None:
    """Run API, worker and queue in one process (the web app at /, the API docs at /docs)."""
    from synthscope_api.local import serve as run_server  # imported when run, not when the CLI starts

    run_server(host, port, with_worker=not no_worker)


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
