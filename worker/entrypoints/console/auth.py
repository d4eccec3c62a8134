"""Who may use the console: two roles by password, a signed session cookie, CSRF tokens.

A login form sets a session cookie (`HttpOnly`, `SameSite=Strict`) that names the role
and when it ends, signed with a key derived from the passwords: changing either
password ends every session, and every worker with the same passwords accepts it.
Every POST but the login carries the session's CSRF token, and a request whose
`Origin` names another host is refused.
"""

import asyncio
import enum
import hashlib
import hmac
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from urllib.parse import quote, urlsplit

from aiohttp import web
from aiohttp.typedefs import Middleware
from pydantic import SecretStr

log = logging.getLogger("worker.console")

COOKIE = "pizzeria_console"
WRONG_PASSWORD_PAUSE = 1.0
"""Seconds a wrong password waits for its answer: guessing is slow."""
PUBLIC = ("/login", "/static/")
OPERATOR_ENDPOINTS = ("/metrics", "/health/")
"""Served before the console existed and scraped without a password; not the console's."""


class Role(enum.Enum):
    OPERATOR = "operator"
    """Sees everything; replays and purges dead letters."""
    VIEWER = "viewer"
    """Sees everything; changes nothing."""


class ConsoleSettingsError(ValueError):
    """The console's passwords are missing, unreadable or the same for both roles."""


def password(value: SecretStr | None, file: Path | None, name: str) -> str | None:
    """The password given directly, else the first line of its file."""
    if value is not None and file is not None:
        raise ConsoleSettingsError(f"set {name} or {name}_FILE, not both")
    if value is not None:
        text = value.get_secret_value()
    elif file is not None:
        try:
            text = file.read_text(encoding="utf-8").splitlines()[0] if file.stat().st_size else ""
        except OSError as error:
            raise ConsoleSettingsError(f"{name}_FILE: {error.strerror}") from None
    else:
        return None
    if not text.strip():
        raise ConsoleSettingsError(f"{name} is empty")
    return text.strip()


class Session:
    """One login: its role, and the token its forms must send back."""

    def __init__(self, role: Role, csrf: str) -> None:
        self.role = role
        self.csrf = csrf

    @property
    def may_change(self) -> bool:
        return self.role is Role.OPERATOR


class Gate:
    """Checks passwords, issues and reads session cookies."""

    def __init__(self, operator: str, viewer: str | None, hours: float) -> None:
        if viewer is not None and hmac.compare_digest(operator, viewer):
            raise ConsoleSettingsError("the operator and viewer passwords must differ")
        self._passwords = {Role.OPERATOR: operator.encode()}
        if viewer is not None:
            self._passwords[Role.VIEWER] = viewer.encode()
        secret = b"\0".join(self._passwords.values())
        # Slow to derive (scrypt, about 50 ms, once): a viewer holding a signed cookie
        # and its own password cannot try operator passwords against it at speed.
        self._key = hashlib.scrypt(
            secret, salt=b"pizzeria-console-session", n=2**14, r=8, p=1, dklen=32
        )
        self._seconds = int(hours * 3600)

    def role_for(self, given: str) -> Role | None:
        """The role whose password this is; every password is compared, in constant time."""
        found = None
        for role, expected in self._passwords.items():
            if hmac.compare_digest(given.encode(), expected):
                found = role
        return found

    def cookie_for(self, role: Role) -> str:
        body = f"{role.value}.{int(time.time()) + self._seconds}.{secrets.token_hex(16)}"
        return f"{body}.{self._sign(body)}"

    def session(self, cookie: str | None) -> Session | None:
        """The session of a cookie this gate signed and that has not ended."""
        if not cookie or cookie.count(".") != 3:
            return None
        body, _, signature = cookie.rpartition(".")
        if not hmac.compare_digest(signature, self._sign(body)):
            return None
        role, ends, nonce = body.split(".")
        if not ends.isdigit() or int(ends) < time.time() or role not in Role._value2member_map_:
            return None
        return Session(Role(role), self._sign(f"csrf.{nonce}"))

    @property
    def max_age(self) -> int:
        return self._seconds

    def _sign(self, text: str) -> str:
        return hmac.new(self._key, text.encode(), hashlib.sha256).hexdigest()


SESSION_KEY = "pizzeria-console-session"
_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def middleware(gate: Gate) -> Middleware:
    """Every console path needs a session; every POST but the login its CSRF token."""

    @web.middleware
    async def guard(request: web.Request, handler: _Handler) -> web.StreamResponse:
        path = request.path
        if path.startswith(OPERATOR_ENDPOINTS):
            return await handler(request)
        if request.method == "POST" and not _same_origin(request):
            raise web.HTTPForbidden(text="cross-origin request refused")
        if path.startswith(PUBLIC):
            return _hardened(await handler(request))
        session = gate.session(request.cookies.get(COOKIE))
        if session is None:
            if request.method != "GET":
                raise web.HTTPUnauthorized(text="log in first")
            target = f"/login?next={quote(request.path_qs, safe='')}"
            if request.headers.get("HX-Request"):  # htmx follows this header, not a 303
                raise web.HTTPUnauthorized(headers={"HX-Redirect": target})
            raise web.HTTPSeeOther(target)
        if request.method == "POST":
            form = await request.post()
            given = str(form.get("csrf") or request.headers.get("X-CSRF-Token") or "")
            if not hmac.compare_digest(given, session.csrf):
                log.warning("console: POST %s without a valid CSRF token refused", path)
                raise web.HTTPForbidden(text="missing or wrong CSRF token")
        request[SESSION_KEY] = session
        return _hardened(await handler(request))

    return guard


def _same_origin(request: web.Request) -> bool:
    origin = request.headers.get("Origin")
    if origin is None:  # not sent by every browser on a same-origin form; CSRF covers it
        return True
    return urlsplit(origin).netloc == request.host


def _hardened(response: web.StreamResponse) -> web.StreamResponse:
    headers = response.headers
    headers.setdefault(
        "Content-Security-Policy",
        "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    )
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "same-origin")
    headers.setdefault("Cache-Control", "no-store")
    return response


def session_of(request: web.Request) -> Session:
    session: Session = request[SESSION_KEY]
    return session


def require_operator(request: web.Request) -> Session:
    session = session_of(request)
    if not session.may_change:
        raise web.HTTPForbidden(text="the viewer role changes nothing")
    return session


async def refuse_slowly() -> None:
    await asyncio.sleep(WRONG_PASSWORD_PAUSE)
