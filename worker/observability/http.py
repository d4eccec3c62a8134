"""The operator's HTTP endpoints: /metrics, /health/live and /health/ready, and the
routes of the operator console when the worker installs it."""

import logging
import socket
from collections.abc import Awaitable, Callable, Mapping

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from .metrics import Metrics

log = logging.getLogger("worker.http")

Checks = Callable[[], Awaitable[Mapping[str, bool]]]
Install = Callable[[web.Application], None]


class OperatorServer:
    """Liveness says the event loop answers; readiness says the worker can do its job."""

    def __init__(
        self,
        host: str,
        port: int,
        metrics: Metrics,
        readiness: Checks,
        console: Install | None = None,
    ) -> None:
        self._host, self._port = host, port
        self.port = port
        self._metrics = metrics
        self._readiness = readiness
        app = web.Application()
        app.router.add_get("/metrics", self._metrics_page)
        app.router.add_get("/health/live", self._live)
        app.router.add_get("/health/ready", self._ready)
        self._served = "metrics, health"
        if console is not None:
            console(app)
            self._served += ", console"
        self._runner = web.AppRunner(app, access_log=None)

    async def start(self) -> None:
        """Listen; port 0 takes any free port, and the log line says which."""
        await self._runner.setup()
        sock = socket.create_server((self._host, self._port))
        self.port = sock.getsockname()[1]
        await web.SockSite(self._runner, sock).start()
        log.info("operator endpoints on http://%s:%d/ (%s)", self._host, self.port, self._served)

    async def stop(self) -> None:
        await self._runner.cleanup()

    async def _metrics_page(self, request: web.Request) -> web.Response:
        body = generate_latest(self._metrics.registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def _live(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "live"})

    async def _ready(self, request: web.Request) -> web.Response:
        checks = dict(await self._readiness())
        ready = all(checks.values())
        body = {"status": "ready" if ready else "not ready", "checks": checks}
        return web.json_response(body, status=200 if ready else 503)
