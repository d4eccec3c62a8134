"""Translate PyMongo's failures into the application's."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from pymongo.errors import ConnectionFailure, OperationFailure, PyMongoError

from ...application.errors import DatabaseUnavailableError, TransientError

DUPLICATE_KEY = 11000
_TRANSIENT_CODES = {
    112,  # WriteConflict
    189,  # PrimarySteppedDown
    262,  # ExceededTimeLimit
    10107,  # NotWritablePrimary
    11600,  # InterruptedAtShutdown
    13436,  # NotPrimaryOrSecondary
}


def is_transient(error: PyMongoError) -> bool:
    """A passing failure the server reported: tried again after a delay, then dead-lettered.
    A time limit the server itself enforced is one: the server answered, and waiting for
    it to answer again would run the same slow operation forever."""
    if isinstance(error, OperationFailure):
        return (
            error.code in _TRANSIENT_CODES
            or error.has_error_label("TransientTransactionError")
            or error.timeout
        )
    return False


def is_outage(error: BaseException) -> bool:
    """The database did not answer: out of reach, or not within the client's `timeoutMS`.

    PyMongo says so in several ways: a socket read that waited too long (NetworkTimeout),
    no server or connection in time, or an operation it did not even send because too
    little of its time was left (ExecutionTimeout with no server reply). Whether a write
    took effect is then unknown, as when a connection drops; running the message again
    is safe, it is idempotent. A time limit in the server's own reply is not an outage
    (`is_transient`)."""
    return isinstance(error, ConnectionFailure) or went_silent(error)


def went_silent(error: BaseException) -> bool:
    """An outage in which the database did not answer in time (rather than refusing a
    connection at once): whatever else is sent to it meanwhile waits as long."""
    return isinstance(error, PyMongoError) and error.timeout and not _answered(error)


def _answered(error: PyMongoError) -> bool:
    return isinstance(error, OperationFailure) and error.details is not None


@asynccontextmanager
async def database_call(what: str) -> AsyncIterator[None]:
    """A database that does not answer becomes DatabaseUnavailableError, so the message
    waits for it; other hiccups become TransientError, so it is tried again later."""
    try:
        yield
    except PyMongoError as error:
        if is_outage(error):
            raise DatabaseUnavailableError(f"{what}: {type(error).__name__}") from None
        if is_transient(error):
            raise TransientError(f"{what}: {type(error).__name__}") from None
        raise
