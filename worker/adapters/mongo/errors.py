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
    if isinstance(error, OperationFailure):
        return error.code in _TRANSIENT_CODES or error.has_error_label("TransientTransactionError")
    return False


def is_outage(error: BaseException) -> bool:
    """The database did not answer: out of reach, or not within the client's `timeoutMS`.

    PyMongo says a time limit ran out in several ways, all with `timeout` true: a socket
    read that waited too long (NetworkTimeout), an operation it did not even send for
    lack of time left or that the server stopped at its `maxTimeMS` (ExecutionTimeout,
    code 50), no server or connection in time, a write concern or a bulk write's
    statement timed out. Whether a write took effect is then unknown, as when a
    connection drops; running the message again is safe, it is idempotent."""
    return isinstance(error, ConnectionFailure) or (
        isinstance(error, PyMongoError) and error.timeout
    )


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
