"""A TCP proxy on 127.0.0.1 that can black-hole its connections, as a network path that
fails silently does: no RST, no FIN, the bytes gone.

During `blackhole()` the proxy keeps every socket open, drops what either side sends
(it reads it and throws it away, so the senders' writes never block), holds back any
close until the hole ends, and lets no new connection reach the server: a connection
made meanwhile waits, unread, and goes through once it is over. Afterwards bytes flow
again, and a connection whose other side closed meanwhile is closed too (as the first
packet after the outage would meet an RST).
"""

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator
from urllib.parse import urlsplit, urlunsplit

CHUNK = 64 * 1024


@dataclasses.dataclass
class Hole:
    """What one black-hole swallowed."""

    dropped_bytes: int = 0


class Proxy:
    """Forwards 127.0.0.1:`port` (any free port) to 127.0.0.1:`upstream`."""

    def __init__(self, upstream: int) -> None:
        self.upstream = upstream
        self.port = 0
        self.holes: list[Hole] = []
        self._open = asyncio.Event()
        self._open.set()
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> "Proxy":
        self._server = await asyncio.start_server(self._accepted, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def close(self) -> None:
        self._open.set()
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    @property
    def black_holed(self) -> bool:
        return not self._open.is_set()

    @contextlib.asynccontextmanager
    async def blackhole(self) -> AsyncIterator[Hole]:
        """Silence in both directions for as long as the block runs."""
        hole = Hole()
        self.holes.append(hole)
        self._open.clear()
        try:
            yield hole
        finally:
            self._open.set()

    def _accepted(self, client_in: asyncio.StreamReader, client_out: asyncio.StreamWriter) -> None:
        task = asyncio.create_task(self._serve(client_in, client_out))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _serve(
        self, client_in: asyncio.StreamReader, client_out: asyncio.StreamWriter
    ) -> None:
        server_out: asyncio.StreamWriter | None = None
        try:
            await self._open.wait()  # SYN lost: nothing reaches the server yet
            try:
                server_in, server_out = await asyncio.open_connection("127.0.0.1", self.upstream)
            except OSError:
                return
            pipes = [
                asyncio.create_task(self._pipe(client_in, server_out)),
                asyncio.create_task(self._pipe(server_in, client_out)),
            ]
            try:
                await asyncio.wait(pipes, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for pipe in pipes:
                    pipe.cancel()
                await asyncio.gather(*pipes, return_exceptions=True)
        finally:
            for writer in (client_out, server_out):
                if writer is not None:
                    writer.close()

    async def _pipe(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        """Until either side is gone; a close seen during a hole waits for its end."""
        while True:
            try:
                data = await source.read(CHUNK)
            except OSError:
                data = b""
            if not data:
                await self._open.wait()
                return
            if self.black_holed:
                self.holes[-1].dropped_bytes += len(data)
                continue
            try:
                sink.write(data)
                await sink.drain()
            except OSError:
                await self._open.wait()
                return


@contextlib.asynccontextmanager
async def proxy_to(url: str, default_port: int) -> AsyncIterator[Proxy]:
    """A proxy to the local server of `url`, for as long as the block runs."""
    proxy = await Proxy(urlsplit(url).port or default_port).start()
    try:
        yield proxy
    finally:
        await proxy.close()


def through(url: str, proxy: Proxy) -> str:
    """`url` with the proxy's port in place of the server's, all else as it was."""
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    netloc = parts.netloc.removesuffix(host) + f"127.0.0.1:{proxy.port}"
    return urlunsplit(parts._replace(netloc=netloc))
