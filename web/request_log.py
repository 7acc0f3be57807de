"""One log line per request with a request id; the id is sent back as X-Request-ID and
shown on error pages, so a person reporting a problem can name the log line."""

from __future__ import annotations

import logging
import secrets
import time

from core.log_redaction import redact

log = logging.getLogger("partnerportal.requests")
HEADER = b"x-request-id"


def request_id_of(scope) -> str:
    return scope.get("state", {}).get("request_id", "")


def request_logging(app):
    async def middleware(scope, receive, send):
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        request_id = secrets.token_hex(6)
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status = 500

        async def send_with_id(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), (HEADER, request_id.encode())]
            await send(message)

        try:
            await app(scope, receive, send_with_id)
        finally:
            path = redact(scope.get("path", ""))
            duration_ms = round((time.perf_counter() - started) * 1000, 1)
            # The client as the server believes it (X-Forwarded-For only from trusted proxies, NET-1).
            client = (scope.get("client") or ("-",))[0]
            log.info(
                "%s %s %s %s %.1f ms [%s]", client, scope.get("method", ""), path, status, duration_ms, request_id,
                extra={"request_id": request_id, "client": client, "method": scope.get("method", ""), "path": path,
                       "status": status, "duration_ms": duration_ms},
            )

    return middleware
