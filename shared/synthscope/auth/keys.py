"""Key separation: one configured secret, a distinct HMAC key per purpose.

A token can then never be replayed as an upload signature (or the reverse),
even though both are HMAC-SHA256 under the same deployment secret.
"""

from __future__ import annotations

import hashlib
import hmac

from pydantic import SecretStr


def subkey(secret: SecretStr | str, purpose: str) -> bytes:
    raw = secret.get_secret_value() if isinstance(secret, SecretStr) else secret
    return hmac.new(raw.encode(), b"synthscope/" + purpose.encode(), hashlib.sha256).digest()


def matches_any(candidate: str, secrets: list[SecretStr]) -> bool:
    """Constant-time check of a presented key against the configured ones (all compared, no early exit)."""
    ok = False
    for s in secrets:
        ok |= hmac.compare_digest(candidate.encode(), s.get_secret_value().encode())
    return ok
