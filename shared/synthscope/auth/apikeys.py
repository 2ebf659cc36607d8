"""Enterprise API keys: created and revoked by an operator (`synthscope keys ...`), scoped to an organisation.

A key is `ssk_<key id>_<secret>`; only sha256 of the whole key is stored. The secret is 32 random bytes, so a
fast hash is enough (no password stretching needed: nothing to guess). The key id in the key finds the record
with one primary-key read; the hash is compared in constant time. Revocation is read on every request.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from typing import Any

from synthscope.errors import BadInput, Unauthorized
from synthscope.ports import AccountStore

PREFIX = "ssk_"
_KEY_RE = re.compile(r"^ssk_([a-f0-9]{16})_([A-Za-z0-9_-]{43})$")
ORG_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create(store: AccountStore, org: str, name: str = "") -> tuple[str, dict[str, Any]]:
    """(the key, shown once; the stored record)."""
    if not ORG_RE.match(org):
        raise BadInput("org must be 1-64 characters of letters, digits and _ . -")
    key_id = secrets.token_hex(8)
    key = f"{PREFIX}{key_id}_{secrets.token_urlsafe(32)}"
    record = {"org": org, "name": name[:100], "sha256": digest(key), "created_at": time.time(), "revoked_at": None}
    store.put_api_key(key_id, record)
    return key, {**record, "key_id": key_id}


def verify(store: AccountStore, key: str) -> dict[str, Any]:
    """The key's record, or Unauthorized for a malformed, unknown or revoked key (one message for all)."""
    m = _KEY_RE.match(key)
    rec = store.get_api_key(m.group(1)) if m else None
    ok = rec is not None and hmac.compare_digest(str(rec.get("sha256", "")), digest(key))
    if not ok or rec is None or rec.get("revoked_at") is not None:
        raise Unauthorized("invalid or revoked API key")
    return rec


def is_api_key(credential: str) -> bool:
    return credential.startswith(PREFIX)
