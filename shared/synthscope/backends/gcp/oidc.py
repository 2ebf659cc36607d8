"""Verifies the OIDC ID token Cloud Tasks attaches to each delivery (worker, gcp mode).

Cloud Run already rejects callers without run.invoker; checking again in the app means a
misconfigured service (public by mistake) still only runs tasks from our queue: the token
must be signed by Google, unexpired, for our audience (the worker's base URL), and minted
for the invoker service account. A bad or missing token is 401; a valid token for another
account is 403.
"""

from __future__ import annotations

from typing import Any

import google.auth.exceptions
from google.auth.transport.requests import Request
from google.oauth2 import id_token

from synthscope.errors import Forbidden, Unauthorized

ISSUERS = frozenset({"https://accounts.google.com", "accounts.google.com"})


class OidcVerifier:
    def __init__(self, *, audience: str, invoker_email: str, certs_url: str, clock_skew_s: int = 10) -> None:
        self.audience = audience.rstrip("/")
        self.invoker_email = invoker_email
        self.certs_url = certs_url
        self.clock_skew_s = clock_skew_s
        self._request = Request()

    def verify(self, authorization: str | None) -> dict[str, Any]:
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise Unauthorized("the worker only accepts deliveries from Cloud Tasks (OIDC bearer token)")
        try:
            claims: dict[str, Any] = dict(
                id_token.verify_token(
                    token,
                    self._request,
                    audience=self.audience,
                    certs_url=self.certs_url,
                    clock_skew_in_seconds=self.clock_skew_s,
                )
            )
        except (ValueError, google.auth.exceptions.GoogleAuthError) as exc:
            raise Unauthorized(f"invalid OIDC token: {exc}") from None
        if claims.get("iss") not in ISSUERS:
            raise Unauthorized("the OIDC token was not issued by Google")
        if claims.get("email") != self.invoker_email or not claims.get("email_verified", False):
            raise Forbidden("the OIDC token is not the task queue's invoker account")
        return claims
