"""Short-lived bearer tokens: HS256 JWTs over {sub, exp, jti} (PyJWT does the signing and checks).

The tier is deliberately *not* a claim: it is read from the stored entitlement on
every request, so an upgrade or a cancellation takes effect at once.
Subjects are `anon:<random>` for anonymous callers and `user:<user_id>` for
tokens minted by a trusted backend on a user's behalf.
"""

from __future__ import annotations

import re
import secrets
import threading
import time
from dataclasses import dataclass

import jwt

from synthscope.auth.keys import subkey
from synthscope.config import Settings
from synthscope.errors import BadInput, Unauthorized

ALGORITHM = "HS256"
AUDIENCE = "synthscope-api"
ISSUER = "synthscope"
#: user ids a trusted backend may bind a token to (no separators that could forge another subject).
USER_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@+-]{0,127}$")
LEEWAY_S = 5


@dataclass(frozen=True)
class TokenClaims:
    sub: str
    exp: int
    jti: str

    @property
    def user_id(self) -> str | None:
        """The bound user id, or None for an anonymous caller."""
        return self.sub.removeprefix("user:") if self.sub.startswith("user:") else None


@dataclass(frozen=True)
class MintedToken:
    token: str
    expires_at: int
    sub: str


def _key(settings: Settings) -> bytes:
    return subkey(settings.hmac_secret, "token")


def subject_for(user_id: str | None) -> str:
    if user_id is None:
        return "anon:" + secrets.token_urlsafe(16)
    if not USER_ID_RE.match(user_id):
        raise BadInput("user_id must be 1-128 characters of letters, digits and _ . @ + -")
    return "user:" + user_id


def mint(settings: Settings, user_id: str | None = None, *, now: float | None = None) -> MintedToken:
    issued = int(now if now is not None else time.time())
    sub = subject_for(user_id)
    exp = issued + settings.token_ttl_s
    claims = {"sub": sub, "exp": exp, "iat": issued, "jti": secrets.token_urlsafe(12), "aud": AUDIENCE, "iss": ISSUER}
    return MintedToken(token=jwt.encode(claims, _key(settings), algorithm=ALGORITHM), expires_at=exp, sub=sub)


#: Verified tokens, so a client polling with the same token is not re-verified on every request. Keyed by the
#: signing key and the exact token string; a hit is re-checked against `exp`. Bounded; oldest entries go first.
_VERIFIED: dict[tuple[bytes, str], TokenClaims] = {}
_VERIFIED_MAX = 20_000
_VERIFIED_LOCK = threading.Lock()


def verify(settings: Settings, token: str) -> TokenClaims:
    """The token's claims, or `Unauthorized` for anything forged, altered, expired or malformed."""
    key = _key(settings)
    hit = _VERIFIED.get((key, token))
    if hit is not None:
        if hit.exp + LEEWAY_S > time.time():
            return hit
        with _VERIFIED_LOCK:
            _VERIFIED.pop((key, token), None)
    claims = _verify_uncached(key, token)
    with _VERIFIED_LOCK:
        if len(_VERIFIED) >= _VERIFIED_MAX:
            for old in list(_VERIFIED)[: _VERIFIED_MAX // 10]:
                _VERIFIED.pop(old, None)
        _VERIFIED[(key, token)] = claims
    return claims


def _verify_uncached(key: bytes, token: str) -> TokenClaims:
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=[ALGORITHM],
            audience=AUDIENCE,
            issuer=ISSUER,
            leeway=LEEWAY_S,
            options={"require": ["sub", "exp", "jti", "aud", "iss"]},
        )
    except jwt.ExpiredSignatureError:
        raise Unauthorized("the token has expired; request a new one from POST /auth/token") from None
    except jwt.PyJWTError as exc:
        raise Unauthorized(f"invalid token: {exc}") from None
    sub = claims["sub"]
    if not isinstance(sub, str) or not (sub.startswith("anon:") or sub.startswith("user:")):
        raise Unauthorized("invalid token: unknown subject")
    return TokenClaims(sub=sub, exp=int(claims["exp"]), jti=str(claims["jti"]))
