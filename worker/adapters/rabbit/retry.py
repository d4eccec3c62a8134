"""When to try a failed command again: exponential backoff with jitter."""

import dataclasses
import random
from typing import Final

from aio_pika.abc import AbstractIncomingMessage

from pizzeria_contracts import names


@dataclasses.dataclass(frozen=True)
class RetryPolicy:
    """`attempts` retries after the first try, the n-th after about base * 2**(n-1) s."""

    attempts: int = 5
    base_delay: float = 1.0
    max_delay: float = 60.0
    jitter: float = 0.2

    def delay(self, attempt: int) -> float:
        """Seconds before retry number `attempt` (1-based), jittered upwards."""
        backoff = min(self.max_delay, self.base_delay * 2.0 ** (attempt - 1))
        return backoff * (1 + self.jitter * random.random())  # jitter, not a secret


RETRY_HEADERS: Final = (
    names.RETRY_ATTEMPT_HEADER,
    names.ORIGINAL_EXCHANGE_HEADER,
    names.ORIGINAL_ROUTING_KEY_HEADER,
    names.ORIGINAL_USER_ID_HEADER,
)
"""What a retry copy carries about itself; believed only from the worker's own user."""


def attempts_so_far(message: AbstractIncomingMessage) -> int:
    value = (message.headers or {}).get(names.RETRY_ATTEMPT_HEADER, 0)
    return value if isinstance(value, int) and value >= 0 else 0


def claims_to_be_a_retry(message: AbstractIncomingMessage) -> bool:
    """Arrived without an exchange (through a queue's dead-lettering or a direct
    publish) and carries a retry copy's headers."""
    headers = message.headers or {}
    return not message.exchange and any(header in headers for header in RETRY_HEADERS)


def delay_queue(queue: str, attempt: int) -> str:
    """The queue where retry number `attempt` waits before it returns to `queue`."""
    return f"{queue}.retry.{attempt}"
