"""Stopping and starting the local RabbitMQ and database that the tests share.

Everything here leaves the service running again, even when the test fails:
callers use the context managers, whose exits restore the service.
"""

import asyncio
import contextlib
import dataclasses
import os
import shutil
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

LOOPBACK = {"127.0.0.1", "localhost"}
RABBITMQ_PORT = 5672
DATABASE_PORT = 27017
SBIN = "/usr/local/sbin:/usr/sbin:/sbin"


def is_loopback(url: str, port: int) -> bool:
    parts = urlsplit(url)
    return parts.hostname in LOOPBACK and (parts.port or port) == port


def is_local(url: str) -> bool:
    return urlsplit(url).hostname in LOOPBACK


def rabbitmqctl() -> str | None:
    return shutil.which("rabbitmqctl", path=f"{os.environ.get('PATH', '')}:{SBIN}")


async def port_open(port: int) -> bool:
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 2)
    except (OSError, TimeoutError):
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True


async def wait_for_port(port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not await port_open(port):
        if time.monotonic() > deadline:
            raise AssertionError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")
        await asyncio.sleep(0.5)


async def run(*argv: str, timeout: float = 60) -> str:
    """Run a command; its output, or AssertionError with it when it fails."""
    process = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        output, _ = await asyncio.wait_for(process.communicate(), timeout)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise AssertionError(f"{argv} did not finish within {timeout} s") from None
    text = output.decode("utf-8", "replace")
    if process.returncode:
        raise AssertionError(f"{argv} exited with {process.returncode}: {text}")
    return text


class RabbitMQ:
    """The local broker, driven through rabbitmqctl."""

    def __init__(self, ctl: str) -> None:
        self._ctl = ctl

    async def ctl(self, *args: str, timeout: float = 60) -> str:
        return await run(self._ctl, "-q", *args, timeout=timeout)

    async def wait_until_up(self, timeout: float = 90) -> None:
        await wait_for_port(RABBITMQ_PORT, timeout)
        await self.ctl("await_startup", timeout=timeout)

    @contextlib.asynccontextmanager
    async def stopped(self) -> AsyncIterator[None]:
        """`stop_app` on entry, `start_app` on exit (also after a failure)."""
        try:
            await self.ctl("stop_app")
            yield
        finally:
            await self.ctl("start_app", timeout=120)
            await self.wait_until_up()

    @contextlib.asynccontextmanager
    async def publishing_blocked(self) -> AsyncIterator[None]:
        """A memory alarm: RabbitMQ stops reading from connections that publish.

        The alarm reaches each connection a moment after it goes off, and a connection
        that publishes before then is not blocked: so this waits until none is running."""
        previous = (
            await self.ctl("eval", "vm_memory_monitor:get_vm_memory_high_watermark().")
        ).strip()
        try:
            await self.ctl("set_vm_memory_high_watermark", "0")
            deadline = time.monotonic() + 10
            while "memory" not in await self.ctl("eval", "rabbit_alarm:get_alarms().") or (
                "running" in (await self.ctl("list_connections", "state")).split()
            ):
                if time.monotonic() > deadline:
                    raise AssertionError("the memory alarm did not block every connection")
                await asyncio.sleep(0.2)
            yield
        finally:
            await self.ctl("set_vm_memory_high_watermark", *_watermark_args(previous))


def _watermark_args(value: str) -> list[str]:
    """`0.4` or `{absolute,1073741824}` as rabbitmqctl wants them back."""
    if value.startswith("{absolute"):
        return ["absolute", value.strip("{}").split(",")[1].strip()]
    return [value]


@dataclasses.dataclass(frozen=True)
class LocalDatabase:
    """The mongo-java-server that scripts/lib.sh started, found by its process: how to
    start it again exactly so. A SIGTERM makes it write its snapshot, and a start
    restores it, so the data outlives the outage as it would on MongoDB."""

    pid: int
    argv: list[str]
    cwd: str
    log: str | None
    pid_file: Path | None

    @classmethod
    def find(cls) -> "LocalDatabase | None":
        """The server that listens on 127.0.0.1:27017, if it is one we can restart."""
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                argv = (entry / "cmdline").read_bytes().decode().split("\0")[:-1]
                cwd = os.readlink(entry / "cwd")
                out = os.readlink(entry / "fd" / "1")
            except OSError:
                continue
            if "pizzeria.mongo.Main" not in argv or "--snapshot" not in argv:
                continue
            if "--port" not in argv or argv[argv.index("--port") + 1 :][:1] != [str(DATABASE_PORT)]:
                continue
            pid_file = Path(cwd, ".data", "mongo.pid")
            log = out if out.startswith("/") and Path(out).is_file() else None
            return cls(int(entry.name), argv, cwd, log, pid_file if pid_file.exists() else None)
        return None

    @contextlib.asynccontextmanager
    async def stopped(self) -> AsyncIterator[None]:
        """SIGTERM on entry; on exit (also after a failure) started as scripts/lib.sh does."""
        try:
            os.kill(self.pid, signal.SIGTERM)
            deadline = time.monotonic() + 60  # its final snapshot, as scripts/stop waits
            while time.monotonic() < deadline:
                await asyncio.sleep(0.2)
                if not _alive(self.pid):
                    break
            if _alive(self.pid):
                os.kill(self.pid, signal.SIGKILL)
            yield
        finally:
            if not await port_open(DATABASE_PORT):
                await self._start()
            await wait_for_port(DATABASE_PORT, 60)

    async def _start(self) -> None:
        # As scripts/lib.sh does: in a session of its own and orphaned (the outer
        # shell puts it in the background and exits), so it outlives the tests;
        # its pid written from inside; its output appended to the log it had.
        pid_file = str(self.pid_file) if self.pid_file is not None else os.devnull
        with open(self.log or os.devnull, "ab") as output:  # noqa: ASYNC230 - no waiting
            launcher = await asyncio.create_subprocess_exec(
                "bash",
                "-c",
                '"$@" &',
                "_",
                "setsid",
                "bash",
                "-c",
                'echo $$ >"$1"; shift; exec "$@"',
                "_",
                pid_file,
                "nohup",
                *self.argv,
                cwd=self.cwd,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=output,
                stderr=asyncio.subprocess.STDOUT,
            )
            await launcher.wait()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with contextlib.suppress(OSError):
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
        return state != "Z"
    return True
