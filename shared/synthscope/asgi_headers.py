"""Security headers on every HTTP response, as plain ASGI middleware (no web framework imported).

The API answers browsers (the web app, signed-upload CORS) and untrusted callers, so every
response says: don't sniff content types, don't leak our URLs as referrers, don't frame us,
and, behind Cloud Run's HTTPS front end (gcp mode), always use HTTPS. Headers a handler set
itself are kept.
"""

from __future__ import annotations

from synthscope.asgi_logging import ASGIApp, Message, Receive, Scope, Send

BASE_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
)
#: Two years, the preload list's minimum; only sent where every client reaches us over TLS.
HSTS = (b"strict-transport-security", b"max-age=63072000; includeSubDomains")


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp, *, hsts: bool) -> None:
        self.app = app
        self.headers = BASE_HEADERS + ((HSTS,) if hsts else ())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {k.lower() for k, _ in headers}
                headers.extend((k, v) for k, v in self.headers if k not in present)
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)
