"""Translate PyMongo's failures into the application's."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from pymongo.errors import AutoReconnect, ConnectionFailure, OperationFailure, PyMongoError

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


@asynccontextmanager
async def database_call(what: str) -> AsyncIterator[None]:
    """Database hiccups become TransientError, so the message is tried again later."""
    try:
        yield
    except (AutoReconnect, ConnectionFailure) as error:
        raise DatabaseUnavailableError(f"{what}: {type(error).__name__}") from None
    except PyMongoError as error:
        if is_transient(error):
            raise TransientError(f"{what}: {type(error).__name__}") from None
        raise
