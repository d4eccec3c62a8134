"""A broker connection to the first of several RabbitMQ nodes that answers (a cluster).

aio-pika's robust connection reconnects to the one URL it was given. Here it is
given each node's URL in turn: at start the first that answers is taken, and
while a connection is lost every new attempt goes to the next node, so the
worker moves to a node that is up instead of waiting for the one that died.
"""

import asyncio
import contextlib
import itertools
import logging
from typing import Any, cast

from aio_pika import RobustConnection
from aio_pika.exceptions import AMQPConnectionError
from faststream.rabbit import RabbitBroker
from yarl import URL

from ...settings import mask

log = logging.getLogger("worker.broker")


class SeveralHostsBroker(RabbitBroker):
    """A RabbitBroker that knows every node of a cluster (`urls`, one per node)."""

    def __init__(self, urls: list[str], **kwargs: Any) -> None:
        super().__init__(urls[0], **kwargs)
        self._urls = urls
        self._rotation: Rotation | None = None

    async def _connect(self) -> RobustConnection:
        if len(self._urls) == 1:
            return await super()._connect()
        failures: list[str] = []
        for url in self._urls:
            self._connection_kwargs["url"] = url
            try:
                connection = await super()._connect()
            except (AMQPConnectionError, OSError) as error:
                failures.append(f"{mask(url)}: {error!r}")
                continue
            self._rotation = Rotation(connection, self._urls, url)
            return connection
        raise AMQPConnectionError("no RabbitMQ node answers: " + "; ".join(failures))

    async def stop(self, *args: Any, **kwargs: Any) -> None:
        if self._rotation is not None:
            await self._rotation.stop()
        await super().stop(*args, **kwargs)


class Rotation:
    """While the connection is lost, points it at the next node every reconnection
    interval, so its attempts go round the cluster until one is back."""

    def __init__(self, connection: RobustConnection, urls: list[str], current: str) -> None:
        self._connection = connection
        start = urls.index(current) + 1
        self._next = itertools.cycle(urls[start:] + urls[:start])
        self._task: asyncio.Task[None] | None = None
        connection.close_callbacks.add(self._lost)

    def _lost(self, *_: Any) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._rotate())

    async def _rotate(self) -> None:
        connection = self._connection
        interval = float(cast(float, connection.reconnect_interval))
        while not connection.is_closed and not connection.connected.is_set():
            url = next(self._next)
            connection.url = URL(url)
            log.warning("broker connection lost; next attempt on %s", mask(url))
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(interval):
                    await connection.connected.wait()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
