"""What can go wrong in the pizzeria, in its own words."""


class DomainError(Exception):
    """A rule of the pizzeria was broken."""

    field: str | None = None

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidRequestError(DomainError):
    """The request breaks a rule about its own content."""


class NotFoundError(DomainError):
    """The thing the request is about does not exist."""


class ConflictError(DomainError):
    """The current state does not allow the request."""


class EmptyOrderError(InvalidRequestError):
    field = "pizzas"

    def __init__(self) -> None:
        super().__init__("Order must contain at least one pizza")


class UnknownPizzaError(InvalidRequestError):
    def __init__(self, name: str, on_offer: list[str], field: str = "pizzas") -> None:
        super().__init__(f"'{name}' is not on the menu; on offer: {', '.join(on_offer)}")
        self.field = field


class UnknownSizeError(InvalidRequestError):
    def __init__(self, size: str, on_offer: list[str], field: str = "pizzas") -> None:
        super().__init__(f"Size '{size}' is not on offer; sizes: {', '.join(on_offer)}")
        self.field = field


class InvalidCursorError(InvalidRequestError):
    field = "cursor"

    def __init__(self) -> None:
        super().__init__("The cursor is not one this service gave out")


class OrderNotFoundError(NotFoundError):
    field = "order_id"

    def __init__(self, order_id: str) -> None:
        super().__init__(f"Order '{order_id}' does not exist")


class PizzaNotFoundError(NotFoundError):
    field = "name"

    def __init__(self, name: str) -> None:
        super().__init__(f"'{name}' is not on the menu")


class PizzaAlreadyOnMenuError(ConflictError):
    field = "name"

    def __init__(self, name: str) -> None:
        super().__init__(f"'{name}' is already on the menu")


class InvalidTransitionError(ConflictError):
    """An order was asked to do what its status does not allow."""

    field = "order_id"

    def __init__(self, order_id: str, status: str, action: str, allowed: list[str]) -> None:
        options = ", ".join(allowed) if allowed else "nothing"
        super().__init__(
            f"Order '{order_id}' is {status}: cannot {action}; allowed from {status}: {options}"
        )
        self.status = status


class NotLateError(ConflictError):
    """A deadline was checked for an order that has moved on, or was flagged already."""

    field = "order_id"

    def __init__(self, order_id: str, status: str, lateness: str) -> None:
        super().__init__(f"Order '{order_id}' is {status}: not {lateness}-late, or flagged already")


class VersionMovedError(ConflictError):
    """A change was meant for one version of an aggregate, and it has moved on."""

    def __init__(self, aggregate_id: str, expected: int, found: int) -> None:
        super().__init__(f"'{aggregate_id}' is at version {found}, not {expected}: it moved on")
