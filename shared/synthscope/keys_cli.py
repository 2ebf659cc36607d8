"""`synthscope keys create|revoke|list`: enterprise API keys, administered against the configured account store.

An operator command, not an API endpoint: whoever can run it can already reach the store.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer

from synthscope.ports import AccountStore

keys_app = typer.Typer(help="Enterprise API keys (stored hashed, scoped to an organisation).", no_args_is_help=True)


@contextmanager
def _store() -> Iterator[AccountStore]:
    from synthscope.backends import build
    from synthscope.config import Settings

    backends = build(Settings())
    try:
        yield backends.accounts
    finally:
        backends.close()


@keys_app.command("create")
def create_key(
    org: Annotated[str, typer.Option("--org", help="The organisation the key acts for")],
    name: Annotated[str, typer.Option("--name", help="A label (who or what uses it)")] = "",
) -> None:
    """Print a new key once (it is stored only as a sha256), then its id on stderr."""
    from synthscope.auth import apikeys
    from synthscope.errors import SynthscopeError

    with _store() as store:
        try:
            key, rec = apikeys.create(store, org, name)
        except SynthscopeError as exc:
            typer.echo(f"error: {exc.detail}", err=True)
            raise typer.Exit(2) from None
    typer.echo(key)
    typer.echo(f"key id {rec['key_id']} for org {org}; store the key now, it cannot be shown again", err=True)


@keys_app.command("revoke")
def revoke_key(key_id: Annotated[str, typer.Argument(help="The key id (from `keys list`)")]) -> None:
    """Revoke at once: the next request with the key gets 401."""
    with _store() as store:
        if not store.revoke_api_key(key_id, revoked_at=time.time()):
            typer.echo(f"error: no active key with id {key_id}", err=True)
            raise typer.Exit(1)
    typer.echo(f"revoked {key_id}")


@keys_app.command("list")
def list_keys(org: Annotated[str | None, typer.Option("--org", help="Only this organisation's keys")] = None) -> None:
    """One JSON object per key (never the key or its hash)."""
    with _store() as store:
        for rec in store.list_api_keys(org):
            typer.echo(json.dumps({k: rec.get(k) for k in ("key_id", "org", "name", "created_at", "revoked_at")}))


@keys_app.command("callback-secret")
def callback_secret(org: Annotated[str, typer.Option("--org", help="The organisation")]) -> None:
    """Print the key the organisation's report callbacks are signed with (hex; derived, not stored)."""
    from synthscope.callbacks import callback_key
    from synthscope.config import Settings

    typer.echo(callback_key(Settings(), f"org:{org}").hex())
