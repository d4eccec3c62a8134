"""What a message's changes leave to finish once its lane is free: the relay of their events.

A command holds its lane (its order, phone or pizza) only while it reads and
writes. Waiting for its events to be published comes after, so the next
command about the same thing does not wait for the broker's confirms of this
one; the entrypoint still answers only once they are published.
"""

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextvars import ContextVar

_deferred: ContextVar[list[asyncio.Future[None]] | None] = ContextVar("deferred", default=None)


async def finish(work: asyncio.Future[None]) -> None:
    """Await `work` now or, within `afterwards()`, on the way out of it."""
    deferred = _deferred.get()
    if deferred is None:
        await work
    else:
        deferred.append(work)


@contextlib.asynccontextmanager
async def afterwards() -> AsyncIterator[None]:
    """Await the work `finish` was given within, once the body is done (not when it fails:
    the work goes on regardless, and nobody is answered)."""
    deferred: list[asyncio.Future[None]] = []
    token = _deferred.set(deferred)
    try:
        yield
    finally:
        _deferred.reset(token)
    await asyncio.gather(*deferred)
