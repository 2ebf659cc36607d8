"""Report callbacks (enterprise): the worker POSTs the final report to the caller's `callback_url`, signed.

Signature (documented for receivers, like Stripe's): headers
  `Synthscope-Timestamp: <unix seconds>` and `Synthscope-Signature: v1=<hex HMAC-SHA256(key, "<t>." + body)>`,
where the key is the organisation's callback secret (`synthscope keys callback-secret --org ORG`). Receivers
recompute the MAC over the exact body bytes, compare in constant time, and refuse timestamps older than 5 min.
URLs must be https and resolve only to public addresses outside `local` mode (checked at submission and again
before each delivery, so a DNS change cannot point a callback at an internal service).
Delivery is at-least-once (the worker sends it again when it cannot tell whether a crash cut it short), so
receivers de-duplicate by `task_id`.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import logging
import socket
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
from tenacity import retry, retry_if_exception_type, stop_after_attempt, wait_exponential

from synthscope.auth.keys import subkey
from synthscope.config import Settings
from synthscope.errors import RequestError
from synthscope.ports import CallbackState

log = logging.getLogger("synthscope.callbacks")

TIMESTAMP_HEADER = "Synthscope-Timestamp"
SIGNATURE_HEADER = "Synthscope-Signature"
TOLERANCE_S = 300


class BadCallbackUrl(RequestError):
    slug = "bad-callback-url"
    title = "Callback URL not allowed"
    status = 400


class RetryableDelivery(Exception):
    """A 5xx/429 answer or a network error: tried again with backoff."""


def callback_key(settings: Settings, owner: str) -> bytes:
    """The owner's (organisation's) signing key, derived from the deployment secret: nothing extra to store."""
    return subkey(settings.hmac_secret, f"callback/{owner}")


def _addresses(host: str) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except OSError:
        raise BadCallbackUrl(f"callback host {host!r} does not resolve") from None
    return [ipaddress.ip_address(str(i[4][0]).split("%", 1)[0]) for i in infos]


def check_url(url: str, *, local: bool) -> str:
    """The URL when it may be called; BadCallbackUrl otherwise (scheme, host, private/loopback/link-local)."""
    parts = urlsplit(url)
    if parts.scheme not in (("https", "http") if local else ("https",)):
        raise BadCallbackUrl("callback_url must be https")
    if not parts.hostname or parts.username or parts.password:
        raise BadCallbackUrl("callback_url needs a host and no credentials")
    if not local:
        for ip in _addresses(parts.hostname):
            if not ip.is_global or ip.is_multicast:
                raise BadCallbackUrl(f"callback_url resolves to a non-public address ({ip})")
    return url


def sign(key: bytes, body: bytes, *, t: int | None = None) -> dict[str, str]:
    ts = int(time.time()) if t is None else t
    mac = hmac.new(key, f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
    return {TIMESTAMP_HEADER: str(ts), SIGNATURE_HEADER: f"v1={mac}"}


def verify(key: bytes, body: bytes, headers: Any, *, now: float | None = None, tolerance_s: int = TOLERANCE_S) -> bool:
    """What a receiver does (and the tests do): a fresh timestamp and a matching v1 MAC over the exact body."""
    try:
        ts = int(headers[TIMESTAMP_HEADER])
        sig = str(headers[SIGNATURE_HEADER]).removeprefix("v1=")
    except (KeyError, ValueError):
        return False
    if abs((now if now is not None else time.time()) - ts) > tolerance_s:
        return False
    expected = hmac.new(key, f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, sig)


@dataclass(frozen=True)
class Delivery:
    """How a callback ended. delivered: a 2xx; rejected: the receiver's non-retryable verdict (4xx, or a 3xx:
    redirects are not followed); gave_up: retries exhausted on 5xx/429/network errors, or the URL is no longer
    allowed. `status` is the receiver's final HTTP status (delivered, rejected)."""

    state: CallbackState
    detail: str
    status: int | None = None


def deliver(settings: Settings, url: str, owner: str, payload: dict[str, Any]) -> Delivery:
    """POST the signed payload; retried with exponential backoff on network errors, 429 and 5xx. Returns once the
    outcome is definitive: a 2xx (delivered), another status (rejected: not retried), or retries exhausted."""
    body = json.dumps(payload, separators=(",", ":")).encode()
    key = callback_key(settings, owner)
    local = settings.environment == "local"
    tries = 0

    @retry(
        stop=stop_after_attempt(settings.callback_attempts),
        wait=wait_exponential(multiplier=settings.callback_backoff_s, max=60),
        retry=retry_if_exception_type((RetryableDelivery, httpx.TransportError)),
        reraise=True,
    )
    def attempt() -> int:
        nonlocal tries
        tries += 1
        check_url(url, local=local)  # again: DNS may have changed since submission
        headers = {"Content-Type": "application/json", **sign(key, body)}  # a fresh timestamp per attempt
        r = httpx.post(url, content=body, headers=headers, timeout=10.0, follow_redirects=False, trust_env=False)
        if r.status_code == 429 or r.status_code >= 500:
            raise RetryableDelivery(f"callback answered {r.status_code}")
        return r.status_code

    try:
        status = attempt()
    except (RetryableDelivery, httpx.TransportError, BadCallbackUrl) as exc:
        detail = f"{type(exc).__name__} after {tries} attempt(s): {exc}"
        log.warning("callback delivery gave up", extra={"url": url, "error": detail})
        return Delivery("gave_up", detail)
    if 200 <= status < 300:
        log.info("callback delivered", extra={"url": url, "status": status})
        return Delivery("delivered", f"HTTP {status}", status)
    log.warning("callback rejected by the receiver", extra={"url": url, "status": status})
    return Delivery("rejected", f"HTTP {status}", status)
