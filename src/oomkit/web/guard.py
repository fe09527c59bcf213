"""The ASGI middleware in front of every route: Host check, credentials, cross-site
protection for POSTs, and the security headers of every response (see ``auth``)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from oomkit.web.auth import Authenticator, host_allowed, same_origin
from oomkit.web.settings import WebSettings

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

SECURITY_HEADERS = (
    # Scripts and styles only from this server: no inline script can run, even injected.
    (b"content-security-policy", b"default-src 'self'; script-src 'self'; style-src 'self';"
     b" img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none';"
     b" form-action 'self'"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-resource-policy", b"same-origin"),
)
OPEN_PATHS = ("/healthz",)
SAFE_METHODS = ("GET", "HEAD")


async def _refuse(send: Send, status: int, message: str, extra: tuple[tuple[bytes, bytes], ...] = ()
                  ) -> None:
    body = json.dumps({"error": message}).encode()
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
        (b"cache-control", b"no-store"), *SECURITY_HEADERS, *extra]})
    await send({"type": "http.response.body", "body": body})


class Guard:
    """Refuses what the settings do not allow before any route runs."""

    def __init__(self, app: ASGIApp, settings: WebSettings, authenticator: Authenticator) -> None:
        self.app = app
        self.settings = settings
        self.auth = authenticator

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        path: str = scope["path"]
        method: str = scope["method"]
        if not host_allowed(headers.get("host"), self.settings):
            await _refuse(send, 421, "this server is not reached by that host name"
                          " (add it to allowed_hosts in [web])")
            return
        public = path in OPEN_PATHS or (path == "/metrics" and self.settings.public_metrics)
        authed = self.auth.required and self.auth.check(headers.get("authorization"))
        if self.auth.required and not public and not authed:
            await _refuse(send, 401, "authentication required",
                          ((b"www-authenticate", b'Basic realm="oomkit", charset="UTF-8"'),))
            return
        if method not in SAFE_METHODS:
            why = same_origin(headers, scope.get("scheme", "http"))
            if why is not None:
                await _refuse(send, 403, why)
                return
            if self.settings.control == "off":
                await _refuse(send, 403, "program control is off in this server's settings"
                              " ([web] control)")
                return
            if self.settings.control == "auth" and not authed:
                await _refuse(send, 403, "controlling programs needs credentials: configure a token"
                              " (token_file) or a user in [web]; see docs/web.md")
                return
        scope.setdefault("state", {})["authenticated"] = authed

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *SECURITY_HEADERS]
            await send(message)

        await self.app(scope, receive, send_with_headers)
