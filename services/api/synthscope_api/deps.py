"""Dependencies: the loaded state, and the caller (token verified, tier read from the store)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from synthscope.auth.entitlements import tier_for
from synthscope.auth.tokens import verify
from synthscope.config import TIER_LIMITS, Tier, TierLimits
from synthscope.errors import Unauthorized
from synthscope_api.state import ApiState


async def get_state(request: Request) -> ApiState:
    return request.app.state.api  # type: ignore[no-any-return]


AppState = Annotated[ApiState, Depends(get_state)]

bearer = HTTPBearer(auto_error=False, description="Token from POST /auth/token")
api_key_header = APIKeyHeader(name="X-Api-Key", auto_error=False, description="Trusted backends only")


@dataclass(frozen=True)
class User:
    sub: str
    user_id: str | None
    tier: Tier

    @property
    def limits(self) -> TierLimits:
        return TIER_LIMITS[self.tier]


async def current_user(state: AppState, creds: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> User:
    """The verified caller. The tier comes from the stored entitlement, never from the token."""
    if creds is None or creds.scheme.lower() != "bearer" or not creds.credentials:
        raise Unauthorized("send Authorization: Bearer <token> (get one from POST /auth/token)")
    claims = verify(state.settings, creds.credentials)
    return User(sub=claims.sub, user_id=claims.user_id, tier=tier_for(state.backends.reports, claims.user_id))


CurrentUser = Annotated[User, Depends(current_user)]
ApiKey = Annotated[str | None, Depends(api_key_header)]
