"""One JSON log line per HTTP request, as plain ASGI middleware (no web framework imported).

Sets the request id (from `X-Request-Id` or a new one, echoed back) and the trace
(`traceparent` / `X-Cloud-Trace-Context`) in context variables, so every line the
handler writes carries them, then logs `httpRequest` in Cloud Logging's shape.
"""

from __future__ import annotations

import logging
import re
import secrets
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from synthscope.logs import parse_trace, request_id_var, span_var, trace_var

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

log = logging.getLogger("synthscope.http")
_SAFE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


class RequestLogMiddleware:
    def __init__(self, app: ASGIApp, *, service: str, quiet_paths: frozenset[str] = frozenset()) -> None:
        self.app = app
        self.service = service
        self.quiet_paths = quiet_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        rid = headers.get("x-request-id", "")
        if not _SAFE_ID.match(rid):
            rid = secrets.token_hex(8)
        trace, span = parse_trace(headers)
        tokens = (request_id_var.set(rid), trace_var.set(trace), span_var.set(span))
        status = [500]
        size = [0]
        t0 = time.perf_counter()

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*list(message["headers"]), (b"x-request-id", rid.encode())]
            elif message["type"] == "http.response.body":
                size[0] += len(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            path = scope.get("path", "")
            if path not in self.quiet_paths or status[0] >= 400:
                latency = time.perf_counter() - t0
                qs = scope.get("query_string", b"")
                # Upload URLs carry their signature in the query string: never log it.
                url = path if path.startswith("/local-upload/") or not qs else f"{path}?{qs.decode('latin-1')}"
                client = scope.get("client") or ("", 0)
                log.log(
                    logging.WARNING if status[0] >= 500 else logging.INFO,
                    f"{scope.get('method', '')} {path} {status[0]}",
                    extra={
                        "service": self.service,
                        "httpRequest": {
                            "requestMethod": scope.get("method", ""),
                            "requestUrl": url,
                            "status": status[0],
                            "responseSize": str(size[0]),
                            "userAgent": headers.get("user-agent", ""),
                            "remoteIp": client[0],
                            "latency": f"{latency:.6f}s",
                            "protocol": f"HTTP/{scope.get('http_version', '1.1')}",
                        },
                    },
                )
            for var, tok in zip((request_id_var, trace_var, span_var), tokens, strict=True):
                var.reset(tok)
