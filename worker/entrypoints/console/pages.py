"""The console's pages and actions; each reads through a port or the dead-letter desk."""

import base64
import binascii
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import aiohttp_jinja2
from aiohttp import web
from yarl import URL

from ...application.errors import DatabaseUnavailableError
from ...application.ports import LateOrderViews, OrderConversations, OrderViews
from .auth import COOKIE, Gate, refuse_slowly, require_operator, session_of
from .deadletters import Chosen, Desk, DeskUnavailableError, GroupKey
from .figures import Glance

log = logging.getLogger("worker.console")
_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

KITCHEN_LIMIT = 200
"""Active and late orders shown at most, oldest first."""


def group_token(reason: str | None, name: str | None) -> str:
    """A group as one form value (its reason or name may be missing)."""
    return base64.urlsafe_b64encode(json.dumps([reason, name]).encode()).decode()


def group_key(token: str) -> GroupKey:
    try:
        reason, name = json.loads(base64.urlsafe_b64decode(token.encode()))
    except (ValueError, binascii.Error, TypeError):
        raise web.HTTPBadRequest(text="not a dead-letter group") from None
    if not all(part is None or isinstance(part, str) for part in (reason, name)):
        raise web.HTTPBadRequest(text="not a dead-letter group")
    return reason, name


class Pages:
    def __init__(
        self,
        gate: Gate,
        desk: Desk,
        glance: Glance,
        views: OrderViews,
        late: LateOrderViews,
        conversations: OrderConversations,
    ) -> None:
        self._gate = gate
        self._desk = desk
        self._glance = glance
        self._views = views
        self._late = late
        self._conversations = conversations

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/login", self.login_page),
            web.post("/login", self.login),
            web.post("/logout", self.logout),
            web.get("/", self.dead_letters),
            web.get("/fragments/dead-letters", self.dead_letter_groups),
            web.get("/dead-letters/group/{group}", self.group),
            web.get("/dead-letters/letter/{message_id}", self.letter),
            web.post("/dead-letters/replay", self.replay),
            web.post("/dead-letters/purge", self.purge),
            web.get("/kitchen", self.kitchen),
            web.get("/fragments/kitchen", self.kitchen_orders),
            web.get("/conversation", self.conversation),
            web.get("/status", self.status),
            web.get("/fragments/status", self.status_figures),
        ]

    async def login_page(self, request: web.Request) -> web.Response:
        return _render("login.html", request, {"next": _next(request.query.get("next"))})

    async def login(self, request: web.Request) -> web.Response:
        form = await request.post()
        target = _next(str(form.get("next", "/")))
        role = self._gate.role_for(str(form.get("password", "")))
        if role is None:
            log.warning("console: wrong password from %s", request.remote)
            await refuse_slowly()
            context = {"next": target, "error": "Wrong password."}
            return _render("login.html", request, context, status=401)
        log.info("console: %s logged in from %s", role.value, request.remote)
        response = web.HTTPSeeOther(target)
        response.set_cookie(
            COOKIE,
            self._gate.cookie_for(role),
            max_age=self._gate.max_age,
            httponly=True,
            samesite="Strict",
            path="/",
        )
        raise response

    async def logout(self, request: web.Request) -> web.Response:
        response = web.HTTPSeeOther("/login")
        response.del_cookie(COOKIE, path="/")
        raise response

    async def dead_letters(self, request: web.Request) -> web.Response:
        return _render("dead_letters.html", request, await self._groups())

    async def dead_letter_groups(self, request: web.Request) -> web.Response:
        return _render("_groups.html", request, await self._groups())

    async def _groups(self) -> dict[str, Any]:
        snapshot = await self._desk.snapshot()
        return {"snapshot": snapshot, "groups": snapshot.groups()}

    async def group(self, request: web.Request) -> web.Response:
        reason, name = group_key(request.match_info["group"])
        snapshot = await self._desk.snapshot()
        context = {"group": snapshot.group(reason, name), "snapshot": snapshot}
        return _render("group.html", request, context)

    async def letter(self, request: web.Request) -> web.Response:
        message_id = request.match_info["message_id"]
        letter = (await self._desk.snapshot()).letter(message_id)
        if letter is None:
            context = {"message_id": message_id}
            return _render("letter_gone.html", request, context, status=404)
        return _render("letter.html", request, {"letter": letter, "plain": letter.as_json()})

    async def replay(self, request: web.Request) -> web.Response:
        return await self._act(request, "replay")

    async def purge(self, request: web.Request) -> web.Response:
        return await self._act(request, "purge")

    async def _act(self, request: web.Request, action: str) -> web.Response:
        """Without `confirm`, what it would do (the tool's dry run); with it, do it."""
        require_operator(request)
        form = await request.post()
        groups = [str(token) for token in form.getall("group", [])]
        ids = [str(message_id) for message_id in form.getall("id", [])]
        chosen = Chosen(
            groups=frozenset(group_key(token) for token in groups), message_ids=frozenset(ids)
        )
        if chosen.is_empty:
            raise web.HTTPBadRequest(text="choose a group or a dead letter first")
        confirmed = form.get("confirm") == "yes"
        run = self._desk.replay if action == "replay" else self._desk.purge
        report = await run(chosen, dry_run=not confirmed)
        if confirmed:
            log.info(
                "console: %s %d dead letters (%s) from %s; %d skipped, %d not confirmed",
                "replayed" if action == "replay" else "purged",
                len(report.done),
                ", ".join(str(letter.message_id) for letter in report.done[:20]),
                request.remote,
                len(report.skipped),
                len(report.failed),
            )
        context = {"action": action, "report": report, "groups": groups, "ids": ids}
        return _render("done.html" if confirmed else "confirm.html", request, context)

    async def kitchen(self, request: web.Request) -> web.Response:
        return _render("kitchen.html", request, await self._kitchen())

    async def kitchen_orders(self, request: web.Request) -> web.Response:
        return _render("_kitchen.html", request, await self._kitchen())

    async def _kitchen(self) -> dict[str, Any]:
        active = await self._views.active(KITCHEN_LIMIT, None)
        late = await self._late.late(KITCHEN_LIMIT)
        return {
            "active": active["items"],
            "more": active["next_cursor"] is not None,
            "late": late["items"],
            "now": datetime.now(UTC),
        }

    async def conversation(self, request: web.Request) -> web.Response:
        order_id = request.query.get("order_id", "").strip()
        found: Mapping[str, Any] | None = None
        if order_id:
            found = await self._conversations.conversation(order_id)
        context = {"order_id": order_id, "conversation": found}
        return _render(
            "conversation.html", request, context, status=404 if order_id and found is None else 200
        )

    async def status(self, request: web.Request) -> web.Response:
        return _render("status.html", request, {"figures": await self._glance.figures()})

    async def status_figures(self, request: web.Request) -> web.Response:
        return _render("_status.html", request, {"figures": await self._glance.figures()})


@web.middleware
async def unavailable(request: web.Request, handler: _Handler) -> web.StreamResponse:
    """The broker or the database did not answer: say so on the page. A polled fragment
    answers 200, so that htmx shows it in place of what it showed."""
    try:
        return await handler(request)
    except (DeskUnavailableError, DatabaseUnavailableError) as error:
        context = {"problem": str(error) or type(error).__name__}
        if request.path.startswith("/fragments/"):
            return _render("_unavailable.html", request, context)
        return _render("unavailable.html", request, context, status=503)


def _render(
    template: str, request: web.Request, context: dict[str, Any], status: int = 200
) -> web.Response:
    session = request.get("pizzeria-console-session")
    context = {**context, "session": session, "path": request.path, "group_token": group_token}
    return aiohttp_jinja2.render_template(template, request, context, status=status)


def _next(target: str | None) -> str:
    """Only a path of this server: never an open redirect (browsers and yarl drop tabs
    and line breaks, so `/\t/evil.example` would become `//evil.example`)."""
    if (
        not target
        or not target.startswith("/")
        or target.startswith("//")
        or "\\" in target
        or any(ord(char) < 0x20 or ord(char) == 0x7F for char in target)
    ):
        return "/"
    parsed = URL(target)
    if parsed.scheme or parsed.host or parsed.path.startswith("//"):
        return "/"
    return target


__all__ = ["Pages", "group_token", "session_of", "unavailable"]
