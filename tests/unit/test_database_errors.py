"""How a failed database call is classified: an outage waits for the database, a passing
conflict is retried, anything else is the handler's failure.

A time limit that ran out on the client (`timeoutMS`) is an outage: the server did not
answer in time, exactly as when it cannot be reached. One in the server's own reply is a
passing failure: the server answered."""

import pytest
from pymongo.errors import (
    AutoReconnect,
    BulkWriteError,
    DuplicateKeyError,
    ExecutionTimeout,
    NetworkTimeout,
    OperationFailure,
    PyMongoError,
    ServerSelectionTimeoutError,
    WaitQueueTimeoutError,
    WriteConcernError,
    WriteError,
    WTimeoutError,
)

from worker.adapters.mongo.errors import database_call
from worker.application.errors import DatabaseUnavailableError, TransientError

MAX_TIME_MS_EXPIRED = 50


async def fails_with(error: PyMongoError) -> BaseException:
    try:
        async with database_call("load"):
            raise error
    except Exception as raised:  # noqa: BLE001 - what came out is what the test looks at
        return raised
    raise AssertionError("nothing was raised")


@pytest.mark.parametrize(
    "error",
    [
        NetworkTimeout("127.0.0.1:27017: timed out (configured timeouts: timeoutMS: 10000.0ms)"),
        ExecutionTimeout(
            "operation would exceed time limit, remaining timeout:0.00100 <= network round "
            "trip time:0.00200",
            MAX_TIME_MS_EXPIRED,
        ),
        ServerSelectionTimeoutError("No servers found yet, Timeout: 5.0s"),
        WaitQueueTimeoutError("timed out while checking out a connection from the pool"),
        AutoReconnect("connection refused"),
    ],
    ids=lambda error: type(error).__name__,
)
async def test_a_call_that_timed_out_or_found_no_server_is_a_database_outage(
    error: PyMongoError,
) -> None:
    raised = await fails_with(error)

    assert isinstance(raised, DatabaseUnavailableError)
    assert str(raised) == f"load: {type(error).__name__}"


SERVER_SAID = {"ok": 0, "code": MAX_TIME_MS_EXPIRED, "codeName": "MaxTimeMSExpired"}


@pytest.mark.parametrize(
    "error",
    [
        ExecutionTimeout("operation exceeded time limit", MAX_TIME_MS_EXPIRED, SERVER_SAID),
        WTimeoutError("waiting for replication timed out", 64, {"errInfo": {"wtimeout": True}}),
        WriteConcernError("waiting for replication timed out", MAX_TIME_MS_EXPIRED, SERVER_SAID),
        BulkWriteError({"writeErrors": [{"index": 0, "code": MAX_TIME_MS_EXPIRED}]}),
        WriteError("operation exceeded time limit", MAX_TIME_MS_EXPIRED, SERVER_SAID),
    ],
    ids=lambda error: type(error).__name__,
)
async def test_a_time_limit_the_server_answered_with_is_retried_not_waited_for(
    error: PyMongoError,
) -> None:
    """The database answered: waiting for a ping would run the same slow operation again
    at once, forever; retried after a delay, it is dead-lettered in the end."""
    raised = await fails_with(error)

    assert isinstance(raised, TransientError)
    assert not isinstance(raised, DatabaseUnavailableError)


async def test_a_write_conflict_is_a_passing_failure_but_no_outage() -> None:
    raised = await fails_with(OperationFailure("write conflict", 112))

    assert isinstance(raised, TransientError)
    assert not isinstance(raised, DatabaseUnavailableError)


@pytest.mark.parametrize(
    "error",
    [
        DuplicateKeyError("E11000 duplicate key error", 11000),
        OperationFailure("unknown operator: $nope", 2),
        BulkWriteError({"writeErrors": [{"index": 0, "code": 11000}]}),
    ],
    ids=lambda error: type(error).__name__,
)
async def test_any_other_failure_goes_on_as_it_is(error: PyMongoError) -> None:
    assert await fails_with(error) is error
