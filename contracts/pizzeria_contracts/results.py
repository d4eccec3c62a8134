"""The operation result: the body of every reply."""

from typing import Any

from pydantic import model_serializer

from .base import WireModel

TITLES = {
    200: "OK",
    201: "Created",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    409: "Conflict",
    500: "Internal Server Error",
}


class FieldError(WireModel):
    """What is wrong with one field of a message."""

    field: str
    message: str


class OperationResult(WireModel):
    """A reply: `status` as in HTTP, `data` on success, the rest on failure."""

    status: int
    data: Any = None
    title: str | None = None
    detail: str | None = None
    errors: list[FieldError] | None = None

    @property
    def ok(self) -> bool:
        return self.status < 400

    @model_serializer(mode="wrap")
    def _drop_empty(self, handler: Any) -> dict[str, Any]:
        """On the wire a member that says nothing is left out: no `data` on a failure,
        no `errors` when no field was wrong."""
        return {
            key: value
            for key, value in handler(self).items()
            if value is not None and not (key == "errors" and not value)
        }

    @classmethod
    def success(cls, data: Any, status: int = 200) -> "OperationResult":
        return cls(status=status, data=data)

    @classmethod
    def failure(
        cls, status: int, detail: str, errors: list[FieldError] | None = None
    ) -> "OperationResult":
        return cls(status=status, title=TITLES.get(status), detail=detail, errors=errors)
