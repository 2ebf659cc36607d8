"""Verifies the OIDC ID token Cloud Tasks attaches to each delivery (worker, gcp mode).

Cloud Run already rejects callers without run.invoker; checking again in the app means a
misconfigured service (public by mistake) still only runs tasks from our queue: the token
must be signed by Google, unexpired, for our audience (the worker's base URL), and minted
for the invoker service account. A bad or missing token is 401; a valid token for another
account is 403.

Google's certificates are cached as their `Cache-Control` says (google-auth refetches them for
every token otherwise, which puts a request to Google in front of every delivery). A token
signed with a key the cache does not know yet refreshes the certificates once, at most every
`refresh_after_s`, so a forged `kid` cannot make the worker hammer the certificate endpoint.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import cachecontrol
import google.auth.exceptions
import requests
from google.auth.transport.requests import Request
from google.oauth2 import id_token

from synthscope.errors import Forbidden, Unauthorized

ISSUERS = frozenset({"https://accounts.google.com", "accounts.google.com"})


class OidcVerifier:
    def __init__(
        self,
        *,
        audience: str,
        invoker_email: str,
        certs_url: str,
        clock_skew_s: int = 10,
        refresh_after_s: float = 30.0,
    ) -> None:
        self.audience = audience.rstrip("/")
        self.invoker_email = invoker_email
        self.certs_url = certs_url
        self.clock_skew_s = clock_skew_s
        self.refresh_after_s = refresh_after_s
        self._cached = self._cached_request()
        self._last_refresh = -float("inf")
        self._lock = threading.Lock()

    @staticmethod
    def _cached_request() -> Request:
        return Request(session=cachecontrol.CacheControl(requests.Session()))

    def _may_refresh(self) -> bool:
        with self._lock:
            now = time.monotonic()
            if now - self._last_refresh < self.refresh_after_s:
                return False
            self._last_refresh = now
            return True

    def _decode(self, token: str) -> dict[str, Any]:
        def verify(request: Request) -> dict[str, Any]:
            return dict(
                id_token.verify_token(
                    token,
                    request,
                    audience=self.audience,
                    certs_url=self.certs_url,
                    clock_skew_in_seconds=self.clock_skew_s,
                )
            )

        try:
            return verify(self._cached)
        except ValueError as exc:
            # Keys rotate: an unknown key id may be newer than the cached certificates.
            if "Certificate for key id" not in str(exc) or not self._may_refresh():
                raise
            self._cached = self._cached_request()  # an empty cache: fetches the current set
            return verify(self._cached)

    def verify(self, authorization: str | None) -> dict[str, Any]:
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise Unauthorized("the worker only accepts deliveries from Cloud Tasks (OIDC bearer token)")
        try:
            claims = self._decode(token)
        except (ValueError, google.auth.exceptions.GoogleAuthError) as exc:
            raise Unauthorized(f"invalid OIDC token: {exc}") from None
        if claims.get("iss") not in ISSUERS:
            raise Unauthorized("the OIDC token was not issued by Google")
        if claims.get("email") != self.invoker_email or not claims.get("email_verified", False):
            raise Forbidden("the OIDC token is not the task queue's invoker account")
        return claims
