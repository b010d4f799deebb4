"""The served app's HTTP middleware: the scheme a trusted reverse proxy reports, and the
session cookie marked ``Secure`` whenever the browser reached us over https.

A TLS proxy in front (docs/security.md) speaks plain HTTP to the app and says
``X-Forwarded-Proto: https``. That header is believed only from the addresses in
``ENERGY_TRUSTED_PROXIES`` (default: this machine), as anyone else could send it.
"""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import FastAPI
from starlette.middleware.sessions import SessionMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware


class SecureCookieMiddleware:
    """Adds ``Secure`` to every cookie set in an answer to an https request (the scheme as
    the proxy-headers middleware outside this one has established it)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("scheme") != "https":
            await self.app(scope, receive, send)
            return

        async def send_secure(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [
                    (name, _secure(value) if name.lower() == b"set-cookie" else value)
                    for name, value in message.get("headers", [])
                ]
            await send(message)

        await self.app(scope, receive, send_secure)


def _secure(cookie: bytes) -> bytes:
    attributes = {part.strip().lower() for part in cookie.split(b";")[1:]}
    return cookie if b"secure" in attributes else cookie + b"; Secure"


def install_http_middleware(app: FastAPI, *, secret: str, trusted_proxies: Sequence[str]) -> None:
    """Session cookies signed with ``secret`` (NiceGUI's own ``SessionMiddleware``, added
    here first so that NiceGUI reuses it), ``Secure`` over https, and the scheme and client
    of requests from ``trusted_proxies`` (addresses or networks) taken from their
    ``X-Forwarded-Proto``/``X-Forwarded-For``.

    Outermost first: proxy headers, secure cookies, sessions. Serve with uvicorn's own
    ``proxy_headers=False``, or it would apply its own trust list before this one.
    """
    if not any(m.cls == SessionMiddleware for m in app.user_middleware):  # type: ignore[comparison-overlap]
        app.add_middleware(SessionMiddleware, secret_key=secret)
    app.add_middleware(SecureCookieMiddleware)
    app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=list(trusted_proxies))
