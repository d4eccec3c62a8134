"""The operator console: dead letters, the kitchen, an order's conversation and health,
in the browser, on the worker's own HTTP server (README, "Operator console").

Server-rendered with Jinja2; htmx (vendored in static/, no build step, no network)
redraws the parts that change by polling them every few seconds.
"""

import logging
from pathlib import Path

import aiohttp_jinja2
import jinja2
from aiohttp import web

from ...application.ports import LateOrderViews, OrderConversations, OrderViews
from ...observability.http import Checks
from ...observability.metrics import Metrics
from .auth import ConsoleSettingsError, Gate, middleware
from .deadletters import Connect, Desk
from .figures import Glance
from .filters import FILTERS
from .pages import Pages, unavailable

__all__ = ["Console", "ConsoleSettingsError", "Gate"]

log = logging.getLogger("worker.console")
STATIC = Path(__file__).parent / "static"


class Console:
    """Installs its routes, guard and templates on the operator server's application."""

    def __init__(
        self,
        gate: Gate,
        connect: Connect,
        broker_user: str,
        metrics: Metrics,
        readiness: Checks,
        *,
        views: OrderViews,
        late: LateOrderViews,
        conversations: OrderConversations,
    ) -> None:
        self._gate = gate
        self._desk = Desk(connect, broker_user)
        glance = Glance(metrics, readiness)
        self._pages = Pages(gate, self._desk, glance, views, late, conversations)

    def install(self, app: web.Application) -> None:
        app.middlewares.append(middleware(self._gate))
        app.middlewares.append(unavailable)
        environment = aiohttp_jinja2.setup(
            app,
            loader=jinja2.PackageLoader(__name__, "templates"),
            autoescape=jinja2.select_autoescape(default=True),
            undefined=jinja2.StrictUndefined,
        )
        environment.filters.update(FILTERS)
        app.router.add_routes(self._pages.routes())
        app.router.add_static("/static/", STATIC)

    async def close(self) -> None:
        await self._desk.close()
