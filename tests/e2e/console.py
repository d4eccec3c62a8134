"""Helpers of the operator console's tests: where it listens, a logged-in HTTP client,
and a worker of one's own that can be stopped and started again on the same port."""

import contextlib
import re
import socket
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
from yarl import URL

from tests.e2e.conftest import WorkerProcess
from tests.e2e.relaunch import Relaunched

OPERATOR_PASSWORD = "pizza-oven-42"
VIEWER_PASSWORD = "just-looking-7"
CONSOLE_ENV = {
    "PIZZERIA_CONSOLE_PASSWORD": OPERATOR_PASSWORD,
    "PIZZERIA_CONSOLE_VIEWER_PASSWORD": VIEWER_PASSWORD,
}
CSRF = re.compile(r'name="csrf" value="([0-9a-f]{64})"')


def console_url(worker: WorkerProcess) -> str:
    found = re.search(r"operator endpoints on (http://[0-9.]+:[0-9]+)/ \(([^)]*)\)", worker.log)
    assert found, worker.log
    assert "console" in found.group(2), worker.log
    return found.group(1)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class ConsoleClient:
    """An HTTP client of the console, logged in or not; it never follows redirects."""

    def __init__(self, base: str) -> None:
        self.base = base
        # unsafe: keep cookies of an IP address host (127.0.0.1)
        self.session = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        self.csrf = ""

    async def close(self) -> None:
        await self.session.close()

    async def login(self, password: str) -> aiohttp.ClientResponse:
        response = await self.post("/login", {"password": password, "next": "/"}, csrf=False)
        if response.status == 303:
            self.csrf = await self.csrf_of("/")
        return response

    async def csrf_of(self, path: str) -> str:
        status, page = await self.get(path)
        assert status == 200, page
        found = CSRF.search(page)
        assert found, page
        return found.group(1)

    async def get(self, path: str, **headers: str) -> tuple[int, str]:
        async with self.session.get(
            self.base + path, allow_redirects=False, headers=headers
        ) as response:
            return response.status, await response.text()

    async def response(self, path: str) -> aiohttp.ClientResponse:
        async with self.session.get(self.base + path, allow_redirects=False) as response:
            await response.read()
            return response

    async def post(
        self,
        path: str,
        form: dict[str, Any] | list[tuple[str, str]],
        *,
        csrf: bool = True,
        headers: dict[str, str] | None = None,
    ) -> aiohttp.ClientResponse:
        fields = list(form.items()) if isinstance(form, dict) else list(form)
        if csrf:
            fields.append(("csrf", self.csrf))
        async with self.session.post(
            self.base + path, data=fields, allow_redirects=False, headers=headers or {}
        ) as response:
            await response.read()
            return response

    def cookies(self) -> dict[str, str]:
        return {
            key: c.value
            for key, c in self.session.cookie_jar.filter_cookies(URL(self.base)).items()
        }


@contextlib.asynccontextmanager
async def own_worker(
    amqp_url: str, mongodb_url: str, database: str, extra: dict[str, str]
) -> AsyncIterator[WorkerProcess]:
    """A `python -m worker` on `database`, stopped (and checked to stop cleanly) after."""
    relaunched = await Relaunched.on(database, amqp_url, mongodb_url, extra)
    try:
        yield relaunched.worker
    finally:
        code = await relaunched.stop()
    assert code == 0, f"the worker exited with {code}:\n{relaunched.worker.log}"
