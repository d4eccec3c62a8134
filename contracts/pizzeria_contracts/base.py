"""Shared pieces of every wire model: tolerant reading and money."""

from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated

from pydantic import BaseModel, ConfigDict, PlainSerializer

CENT = Decimal("0.01")


def money(value: Decimal) -> str:
    """Render an amount as the contract's two-place decimal string."""
    return str(value.quantize(CENT, rounding=ROUND_HALF_UP))


Money = Annotated[Decimal, PlainSerializer(money, return_type=str, when_used="always")]
"""A decimal amount, sent as a string with two places (`"12.99"`)."""


class WireModel(BaseModel):
    """Base of every message: unknown fields are ignored (a tolerant reader)."""

    model_config = ConfigDict(extra="ignore", frozen=True, str_strip_whitespace=True)
