"""A broker connection to the first of several RabbitMQ nodes that answers (a cluster).

aio-pika's robust connection reconnects to the one URL it was given. Here it is
given each node's URL in turn: at start the first that answers is taken, and once
the connection is lost every attempt that fails moves it on to the next node, so
the worker goes to a node that is up instead of waiting for the one that died.
"""

import itertools
from collections.abc import Iterator
from typing import Any

import aio_pika
from aio_pika import RobustConnection
from aio_pika.abc import AbstractConnection
from aio_pika.exceptions import AMQPConnectionError
from faststream.rabbit import RabbitBroker
from yarl import URL

from ...settings import mask

_ATTEMPT = "_RobustConnection__connect_transport"
"""aio-pika's one connection attempt of a robust connection (a private method)."""


class SeveralHostsBroker(RabbitBroker):
    """A RabbitBroker that knows every node of a cluster (`urls`, one per node).

    It relies on two of FastStream 0.7's internals (`_connect`, `_connection_kwargs`)
    and one of aio-pika's (the robust connection's attempt, `__connect_transport`):
    both are pinned in pyproject.toml, and tests/integration/test_shards.py fails
    when either moves."""

    def __init__(self, urls: list[str], **kwargs: Any) -> None:
        super().__init__(urls[0], **kwargs)
        self._urls = urls

    async def _connect(self) -> RobustConnection:
        if len(self._urls) == 1:
            return await super()._connect()
        failures: list[str] = []
        for at, url in enumerate(self._urls):
            self._connection_kwargs["url"] = url
            self._connection_kwargs["connection_class"] = rotating(
                self._urls[at + 1 :] + self._urls[: at + 1]
            )
            try:
                return await super()._connect()
            except (AMQPConnectionError, OSError) as error:
                failures.append(f"{mask(url)}: {error!r}")
        raise AMQPConnectionError("no RabbitMQ node answers: " + "; ".join(failures))


def rotating(urls: list[str]) -> type[RobustConnection]:
    """A robust connection that, once lost, tries `urls` in turn (the first is the
    node after the one it connects to first), one per attempt, round and round."""
    following: Iterator[str] = itertools.cycle(urls)

    class Rotating(RobustConnection):
        def _next(self) -> None:
            self.url = URL(next(following))

        async def _on_connection_close(self, closing: Any) -> None:
            if not (self._close_called or self.is_closed):
                self._next()  # lost: the next attempt goes to the next node
            await super()._on_connection_close(closing)

        async def _RobustConnection__connect_transport(self) -> None:  # noqa: N802 - aio-pika's
            try:
                await getattr(RobustConnection, _ATTEMPT)(self)
            except Exception:
                if self.connected.is_set() or self._close_called:
                    raise
                self._next()  # this node did not take it: the next attempt, the next node
                raise

    return Rotating


async def connect_first(urls: list[str]) -> AbstractConnection:
    """A plain connection to the first of these nodes that answers."""
    failures: list[str] = []
    for url in urls:
        try:
            return await aio_pika.connect(url)
        except (AMQPConnectionError, OSError) as error:
            failures.append(f"{mask(url)}: {error!r}")
    raise AMQPConnectionError("no RabbitMQ node answers: " + "; ".join(failures))
