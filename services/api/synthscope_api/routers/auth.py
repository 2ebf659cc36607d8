"""POST /auth/token: short-lived bearer tokens, anonymous (rate-limited by IP) or bound to a user by a backend."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Request

from synthscope.auth.keys import matches_any
from synthscope.auth.tokens import mint
from synthscope.errors import Forbidden, Unauthorized
from synthscope_api.deps import ApiKey, AppState, caller_ip
from synthscope_api.models import TokenRequest, TokenResponse
from synthscope_api.problems import operation

router = APIRouter(tags=["auth"])


@router.post("/auth/token", **operation("createToken", "Mint a bearer token", TokenResponse, 401, 403, 422, 429))
async def create_token(
    request: Request, state: AppState, api_key: ApiKey, body: TokenRequest | None = None
) -> TokenResponse:
    """Anonymous tokens are limited per client IP. With `X-Api-Key` (the web app's backend) the token may be
    bound to `user_id`, whose stored entitlement then sets the tier on every request."""
    settings = state.settings
    user_id = body.user_id if body else None
    if api_key is not None:
        if not matches_any(api_key, settings.trusted_api_keys):
            raise Unauthorized("unknown X-Api-Key")
    else:
        if user_id is not None:
            raise Forbidden("only a trusted backend (X-Api-Key) may bind a token to a user_id")
        state.token_limiter.hit(caller_ip(request))
    minted = mint(settings, user_id)
    return TokenResponse(
        access_token=minted.token,
        expires_in=settings.token_ttl_s,
        expires_at=datetime.fromtimestamp(minted.expires_at, UTC),
    )
