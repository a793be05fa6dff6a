"""Who may talk to the server: the right Host, and the per-run token or its cookie.

A pure ASGI wrapper in front of every route, static files included:
- a Host header that is not an address this server serves gets 421, so a web
  page elsewhere cannot reach it by pointing its own name at 127.0.0.1 (DNS
  rebinding);
- ``?token=…`` is exchanged for an HttpOnly, SameSite=Strict cookie with a 303
  to the same URL without the token (it leaves the address bar and history);
- anything else without the cookie gets 403.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, MutableMapping
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qsl, urlencode

Scope = MutableMapping[str, Any]
ASGI = Callable[[Scope, Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]],
                Awaitable[None]]  # fmt: skip

HEADERS = [
    (b"referrer-policy", b"no-referrer"),
    (b"x-content-type-options", b"nosniff"),
]


class Guard:
    def __init__(self, app: ASGI, token: str, hosts: set[str], cookie: str) -> None:
        self.app = app
        self.token = token
        self.hosts = {h.lower() for h in hosts}
        self.cookie = cookie

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        if headers.get("host", "").lower() not in self.hosts:
            await _plain(send, 421, "421 Misdirected Request: this server does not serve that host")
            return
        query = parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        given = [v for k, v in query if k == "token"]
        if given:
            if not self._valid(given[0]):
                await _plain(
                    send, 403, "403 Forbidden: wrong token; open the URL the server printed"
                )
                return
            rest = urlencode([(k, v) for k, v in query if k != "token"])
            location = scope.get("path", "/") + (f"?{rest}" if rest else "")
            cookie = f"{self.cookie}={self.token}; HttpOnly; SameSite=Strict; Path=/"
            await _plain(send, 303, "", [(b"location", location.encode()),
                                         (b"set-cookie", cookie.encode())])  # fmt: skip
            return
        jar = SimpleCookie()
        try:
            jar.load(headers.get("cookie", ""))
        except Exception:  # a malformed Cookie header is just no cookie
            jar = SimpleCookie()
        morsel = jar.get(self.cookie)
        if morsel is None or not self._valid(morsel.value):
            await _plain(
                send, 403, "403 Forbidden: open the URL with ?token= that the server printed"
            )
            return

        async def send_with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *HEADERS]
            await send(message)

        await self.app(scope, receive, send_with_headers)

    def _valid(self, value: str) -> bool:
        return hmac.compare_digest(value.encode(), self.token.encode())


async def _plain(send: Any, status: int, text: str,
                 extra: list[tuple[bytes, bytes]] | None = None) -> None:  # fmt: skip
    body = (text + "\n").encode() if text else b""
    headers = [(b"content-type", b"text/plain; charset=utf-8"),
               (b"content-length", str(len(body)).encode()), (b"cache-control", b"no-store"),
               *HEADERS, *(extra or [])]  # fmt: skip
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
