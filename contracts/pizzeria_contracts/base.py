"""Shared pieces of every wire model: tolerant reading and money."""

import re
from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, PlainSerializer, WithJsonSchema

CENT = Decimal("0.01")
MONEY_PATTERN = r"^[0-9]{1,7}\.[0-9]{2}$"


def money(value: Decimal) -> str:
    """Render an amount as the contract's two-place decimal string."""
    return str(value.quantize(CENT, rounding=ROUND_HALF_UP))


Money = Annotated[Decimal, PlainSerializer(money, return_type=str, when_used="always")]
"""A decimal amount, sent as a string with two places (`"12.99"`)."""


def _money_text(value: Any) -> Any:
    if isinstance(value, Decimal) or (isinstance(value, str) and re.match(MONEY_PATTERN, value)):
        return value
    raise ValueError('money is a string with two decimal places, such as "12.99"')


MoneyText = Annotated[
    Money,
    BeforeValidator(_money_text),
    WithJsonSchema({"type": "string", "pattern": MONEY_PATTERN, "examples": ["12.99"]}),
]
"""Money as a request carries it: only a two-place string (never a JSON number)."""


class WireModel(BaseModel):
    """Base of every message: unknown fields are ignored (a tolerant reader)."""

    model_config = ConfigDict(extra="ignore", frozen=True, str_strip_whitespace=True)
