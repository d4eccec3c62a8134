"""When to try a failed command again: exponential backoff with jitter."""

import dataclasses
import random

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


def attempts_so_far(message: AbstractIncomingMessage) -> int:
    value = (message.headers or {}).get(names.RETRY_ATTEMPT_HEADER, 0)
    return value if isinstance(value, int) and value >= 0 else 0


def delay_queue(queue: str, attempt: int) -> str:
    """The queue where retry number `attempt` waits before it returns to `queue`."""
    return f"{queue}.retry.{attempt}"
