"""Bearer tokens: round trip, and every way a token can be forged, altered or stale."""

from __future__ import annotations

import base64
import json
import time

import jwt
import pytest
from pydantic import SecretStr, ValidationError

from synthscope.auth.keys import matches_any, subkey
from synthscope.auth.tokens import mint, verify
from synthscope.config import DEV_API_KEY, DEV_WORKER_SECRET, Settings
from synthscope.errors import BadInput, Unauthorized

SECRET = "unit-test-secret-0123456789abcdef"


@pytest.fixture
def settings() -> Settings:
    return Settings(hmac_secret=SecretStr(SECRET), token_ttl_s=60)


def test_round_trip_carries_sub_exp_jti_and_no_tier(settings: Settings) -> None:
    t = mint(settings, "alice")
    claims = verify(settings, t.token)
    assert claims.sub == "user:alice" and claims.user_id == "alice"
    assert claims.exp == t.expires_at and claims.jti
    payload = jwt.decode(t.token, options={"verify_signature": False})
    assert "tier" not in payload and set(payload) >= {"sub", "exp", "jti"}


def test_verified_tokens_are_cached_only_until_they_expire(settings: Settings) -> None:
    from synthscope.auth import tokens

    t = mint(settings, "alice").token
    assert verify(settings, t) is verify(settings, t)  # the second is a cache hit
    stale = mint(settings, "bob", now=time.time() - 3600).token
    key = tokens._key(settings)
    tokens._VERIFIED[(key, stale)] = tokens.TokenClaims("user:bob", int(time.time()) - 3000, "j")
    with pytest.raises(Unauthorized, match="expired"):
        verify(settings, stale)  # an entry past its exp is dropped and the token re-checked
    assert (key, stale) not in tokens._VERIFIED
    other = Settings(hmac_secret=SecretStr("another-secret-entirely"))
    with pytest.raises(Unauthorized):
        verify(other, t)  # the cache is per signing key


def test_anonymous_tokens_are_distinct_subjects(settings: Settings) -> None:
    a, b = verify(settings, mint(settings).token), verify(settings, mint(settings).token)
    assert a.sub.startswith("anon:") and a.user_id is None
    assert a.sub != b.sub and a.jti != b.jti


def test_expired_token_is_refused(settings: Settings) -> None:
    old = mint(settings, "alice", now=time.time() - 3600)
    with pytest.raises(Unauthorized, match="expired"):
        verify(settings, old.token)


def _tamper_payload(token: str, **changes: object) -> str:
    head, payload, sig = token.split(".")
    doc = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    doc.update(changes)
    new = base64.urlsafe_b64encode(json.dumps(doc).encode()).rstrip(b"=").decode()
    return f"{head}.{new}.{sig}"


def test_altered_claims_break_the_signature(settings: Settings) -> None:
    t = mint(settings, "alice").token
    for changes in ({"sub": "user:bob"}, {"exp": int(time.time()) + 10**6}, {"tier": "enterprise"}):
        with pytest.raises(Unauthorized):
            verify(settings, _tamper_payload(t, **changes))


def test_forged_signatures_are_refused(settings: Settings) -> None:
    exp = int(time.time()) + 60
    claims = {"sub": "user:alice", "exp": exp, "jti": "x", "aud": "synthscope-api", "iss": "synthscope"}
    wrong_key = jwt.encode(claims, subkey(SecretStr("another-secret"), "token"), algorithm="HS256")
    raw_secret = jwt.encode(claims, SECRET, algorithm="HS256")  # the deployment secret itself is not the token key
    unsigned = jwt.encode(claims, None, algorithm="none")
    for token in (wrong_key, raw_secret, unsigned, "not.a.token", ""):
        with pytest.raises(Unauthorized):
            verify(settings, token)


def test_required_claims_and_audience(settings: Settings) -> None:
    key = subkey(settings.hmac_secret, "token")
    base = {"sub": "user:a", "exp": int(time.time()) + 60, "jti": "j", "aud": "synthscope-api", "iss": "synthscope"}
    for drop in ("jti", "exp", "sub"):
        with pytest.raises(Unauthorized):
            verify(settings, jwt.encode({k: v for k, v in base.items() if k != drop}, key, algorithm="HS256"))
    with pytest.raises(Unauthorized):
        verify(settings, jwt.encode({**base, "aud": "someone-else"}, key, algorithm="HS256"))
    with pytest.raises(Unauthorized, match="subject"):
        verify(settings, jwt.encode({**base, "sub": "admin"}, key, algorithm="HS256"))


def test_user_ids_cannot_smuggle_separators(settings: Settings) -> None:
    for bad in ("", "a b", "x/../y", "user:bob", "a" * 200, "é"):
        with pytest.raises(BadInput):
            mint(settings, bad)


def test_default_secrets_refused_outside_local() -> None:
    real = SecretStr("x" * 32)
    with pytest.raises(ValidationError, match="SYNTHSCOPE_HMAC_SECRET"):
        Settings(environment="production")
    with pytest.raises(ValidationError, match="SYNTHSCOPE_WORKER_SECRET"):
        Settings(environment="production", hmac_secret=real, worker_secret=SecretStr(DEV_WORKER_SECRET))
    with pytest.raises(ValidationError, match="SYNTHSCOPE_API_KEYS"):
        Settings(environment="staging", hmac_secret=real, api_keys=[SecretStr(DEV_API_KEY)])
    prod = Settings(environment="production", hmac_secret=real)
    assert prod.trusted_api_keys == []  # no trusted backend until one is configured
    derived = prod.worker_bearer.get_secret_value()
    assert (
        derived != DEV_WORKER_SECRET
        and derived == Settings(environment="production", hmac_secret=real).worker_bearer.get_secret_value()
    )
    assert derived != Settings().worker_bearer.get_secret_value()  # follows the HMAC secret
    local = Settings()
    assert [k.get_secret_value() for k in local.trusted_api_keys] == [DEV_API_KEY]  # local works with no setup


def test_api_key_check() -> None:
    keys = [SecretStr("alpha-key"), SecretStr("beta-key")]
    assert matches_any("beta-key", keys)
    assert not matches_any("beta-ke", keys) and not matches_any("", keys)
