"""A publish whose confirm the connection took with it fails as an error, never as a
cancellation of the task that waits for it."""

import asyncio

import pytest

from worker.adapters.rabbit.publishing import UnconfirmedError, confirmed


async def test_a_confirm_cancelled_by_its_closing_connection_is_an_error() -> None:
    """aiormq cancels the confirms outstanding when it gives up a silent connection."""
    confirm: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    waiting = asyncio.ensure_future(confirmed(confirm))
    await asyncio.sleep(0)

    confirm.cancel()

    with pytest.raises(UnconfirmedError):
        await waiting


async def test_a_publisher_cancelled_itself_stays_cancelled() -> None:
    confirm: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    waiting = asyncio.ensure_future(confirmed(confirm))
    await asyncio.sleep(0)

    waiting.cancel()

    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert confirm.cancelled()


async def test_a_confirmed_publish_returns() -> None:
    confirm: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    confirm.set_result(None)

    await confirmed(confirm)
