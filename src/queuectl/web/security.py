"""Who may use the dashboard: the access token, the CSRF check of every action, headers.

With a token, a request carries it as ``Authorization: Bearer T``, or as a session
cookie set by the login form or by one visit with ``?token=T``. The cookie holds an
HMAC of the token, not the token. Every POST carries a CSRF field: the HMAC, under a
secret of this process, of a random value kept in an HttpOnly cookie of the browser
(a double-submit another site can neither read nor forge).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, urlencode, urlsplit

from starlette.requests import cookie_parser

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

SESSION_COOKIE = "queuectl_session"
CSRF_COOKIE = "queuectl_csrf"
OPEN_PATHS = ("/login", "/static/")  # reachable without the token (the login form and its CSS)
HEADERS = [
    (
        b"content-security-policy",
        b"default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),  # a ?token= never leaks to another site
    (b"x-frame-options", b"DENY"),
]


def is_loopback(host: str) -> bool:
    """``localhost`` or a loopback address (``127.x``, ``::1``, bracketed or not); a host
    name is not: it may resolve to any interface."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def loopback_request(headers: dict[str, str]) -> bool:
    """Host (and Origin, when a browser sends one) name this machine: localhost, 127.x
    or [::1], on any port."""
    host = urlsplit("//" + headers.get("host", "")).hostname or ""
    origin = headers.get("origin", "null")
    if origin != "null" and not is_loopback(urlsplit(origin).hostname or ""):
        return False
    return is_loopback(host)


async def _plain(send: Send, status: int, body: bytes) -> None:
    headers = [(b"content-type", b"text/plain; charset=utf-8"), *HEADERS]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _mac(key: bytes, text: str) -> str:
    return hmac.new(key, text.encode(), hashlib.sha256).hexdigest()


def same(given: str | None, expected: str) -> bool:
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())


def cookie_header(name: str, value: str, max_age: int | None = None) -> bytes:
    parts = [f"{name}={value}", "Path=/", "HttpOnly", "SameSite=Strict"]
    if max_age is not None:
        parts.append(f"Max-Age={max_age}")
    return "; ".join(parts).encode()


class Guard:
    """ASGI middleware: the token rule, the CSRF cookie and the security headers."""

    def __init__(self, app: ASGIApp, token: str | None) -> None:
        self.app = app
        self.token = token
        self.secret = secrets.token_bytes(32)
        self.session = _mac(token.encode(), "queuectl dashboard session") if token else None

    def csrf_for(self, nonce: str) -> str:
        return _mac(self.secret, "csrf " + nonce)

    def login_ok(self, token: str) -> bool:
        return self.token is not None and same(token, self.token)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        if self.token is None and not loopback_request(headers):
            # Without a token, only a page of this machine may talk to us: a site whose name
            # was re-pointed at 127.0.0.1 (DNS rebinding) names itself in Host or Origin.
            await _plain(
                send, 421, b"421: without a token this dashboard answers only to localhost\n"
            )
            return
        cookies = cookie_parser(headers.get("cookie", ""))
        extra = list(HEADERS)
        nonce = cookies.get(CSRF_COOKIE, "")
        if len(nonce) != 32:
            nonce = secrets.token_hex(16)
            extra.append((b"set-cookie", cookie_header(CSRF_COOKIE, nonce)))
        scope.setdefault("state", {})["csrf"] = self.csrf_for(nonce)
        scope["state"]["guard"] = self

        if self.token is not None and not scope["path"].startswith(OPEN_PATHS):
            query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
            if "token" in query and self.login_ok(query["token"]):
                await _redirect_with_session(scope, query, self.session or "", extra, send)
                return
            if not self._authorized(headers, cookies):
                await _unauthorized(scope, extra, send)
                return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, send_with_headers)

    def _authorized(self, headers: dict[str, str], cookies: dict[str, str]) -> bool:
        assert self.token is not None and self.session is not None
        scheme, _, given = headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and same(given.strip(), self.token):
            return True
        return same(cookies.get(SESSION_COOKIE), self.session)


async def _redirect_with_session(
    scope: Scope, query: dict[str, str], session: str, extra: list[tuple[bytes, bytes]], send: Send
) -> None:
    """``?token=T`` once: set the session cookie, and send the browser to the same page
    without the token in its address (nor in its history)."""
    rest = urlencode({k: v for k, v in query.items() if k != "token"})
    path = scope["path"]
    if not path.startswith("/") or path.startswith("//") or "\\" in path:
        path = "/"  # never a redirect to another site ("//evil.example")
    location = path + ("?" + rest if rest else "")
    headers = [
        (b"location", location.encode()),
        (b"set-cookie", cookie_header(SESSION_COOKIE, session)),
        *extra,
    ]
    await send({"type": "http.response.start", "status": 303, "headers": headers})
    await send({"type": "http.response.body", "body": b""})


async def _unauthorized(scope: Scope, extra: list[tuple[bytes, bytes]], send: Send) -> None:
    """401: a browser asking for a page is offered the login form; anything else gets text."""
    accept = dict(scope["headers"]).get(b"accept", b"")
    if scope["method"] == "GET" and b"text/html" in accept:
        body = (
            b'<!doctype html><meta charset="utf-8"><title>queuectl: log in</title>'
            b'<link rel="stylesheet" href="/static/dashboard.css">'
            b'<main class="login"><h1>queuectl</h1><p>This dashboard needs its access token.</p>'
            b'<form method="post" action="/login"><input type="password" name="token" '
            b'autocomplete="current-password" placeholder="token" autofocus required> '
            b"<button>Log in</button></form></main>"
        )
        kind = b"text/html; charset=utf-8"
    else:
        body, kind = b"401 Unauthorized: this dashboard needs its access token\n", b"text/plain"
    headers = [
        (b"content-type", kind),
        (b"www-authenticate", b'Bearer realm="queuectl"'),
        *extra,
    ]
    await send({"type": "http.response.start", "status": 401, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def guard_of(request: Request) -> Guard:
    guard: Guard = request.state.guard
    return guard


async def checked_form(request: Request) -> dict[str, str]:
    """The POSTed form, after the CSRF check (403 on a missing or wrong field)."""
    from starlette.exceptions import HTTPException

    form = await request.form()
    fields = {k: v for k, v in form.items() if isinstance(v, str)}
    if not same(fields.get("csrf"), request.state.csrf):
        raise HTTPException(403, "missing or invalid CSRF token: reload the page and try again")
    return fields
