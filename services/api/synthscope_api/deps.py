"""Dependencies: the loaded state, and the caller (token verified, tier read from the store)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from synthscope.auth import apikeys
from synthscope.auth.caller import Caller
from synthscope.auth.client_ip import client_ip
from synthscope.auth.entitlements import tier_for
from synthscope.auth.tokens import verify
from synthscope.config import Tier
from synthscope.errors import Unauthorized
from synthscope_api.state import ApiState

T = TypeVar("T")


async def backend_call(state: ApiState, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """A store or signer call from an async route: inline for the embedded backends (SQLite, HMAC: microseconds,
    cheaper than a thread hop), in the thread pool for network backends, so a Firestore read or an IAM
    signBlob never blocks the event loop."""
    if state.backends.inline_io:
        return fn(*args, **kwargs)
    return await run_in_threadpool(fn, *args, **kwargs)


async def get_state(request: Request) -> ApiState:
    return request.app.state.api  # type: ignore[no-any-return]


AppState = Annotated[ApiState, Depends(get_state)]

bearer = HTTPBearer(auto_error=False, description="Token from POST /auth/token, or an enterprise API key (ssk_...)")
api_key_header = APIKeyHeader(name="X-Api-Key", auto_error=False, description="Trusted backends only")


User = Caller  # the verified caller, as the core knows it


def caller_ip(request: Request) -> str:
    """The client address rate limits and quotas key on (`synthscope.auth.client_ip` says whom to believe)."""
    settings = request.app.state.api.settings
    return client_ip(
        request.client.host if request.client else None,
        ",".join(request.headers.getlist("x-forwarded-for")),
        settings.trusted_proxy_hops,
    )


async def current_user(
    state: AppState, request: Request, creds: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> User:
    """The verified caller. The tier comes from the stored entitlement, never from the token; an API key is an
    enterprise organisation's (rate-limited per key and per client IP, revocation read on every request)."""
    if creds is None or creds.scheme.lower() != "bearer" or not creds.credentials:
        raise Unauthorized("send Authorization: Bearer <token> (get one from POST /auth/token)")
    if apikeys.is_api_key(creds.credentials):
        if state.key_ip_limiter is not None:  # before verifying, so guessing keys is limited too
            state.key_ip_limiter.hit(caller_ip(request))
        rec = await backend_call(state, apikeys.verify, state.backends.accounts, creds.credentials)
        if state.key_limiter is not None:
            state.key_limiter.hit(rec["key_id"])
        return User(sub=f"org:{rec['org']}", user_id=None, tier=Tier.enterprise, org=rec["org"])
    claims = verify(state.settings, creds.credentials)
    tier = await backend_call(state, tier_for, state.backends.accounts, claims.user_id) if claims.user_id else Tier.free
    return User(sub=claims.sub, user_id=claims.user_id, tier=tier)


CurrentUser = Annotated[User, Depends(current_user)]
ApiKey = Annotated[str | None, Depends(api_key_header)]
