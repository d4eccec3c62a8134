"""The contract's pricing: base price by size, toppings, half-up rounding to the cent."""

from decimal import ROUND_HALF_EVEN, Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from worker.domain.errors import InvalidRequestError, UnknownPizzaError, UnknownSizeError
from worker.domain.menu import (
    CENT,
    DEFAULT_MENU,
    TOPPING_PRICE,
    Menu,
    MenuItem,
    Size,
    parse_size,
)

MENU = Menu(DEFAULT_MENU)


def test_the_default_menu_holds_the_contracts_small_prices() -> None:
    prices = {item.name: item.price(Size.SMALL, 0) for item in MENU}

    assert prices["margherita"] == Decimal("12.99")
    assert prices["pepperoni"] == Decimal("14.99")
    assert prices["supreme"] == Decimal("17.99")


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        (Size.SMALL, Decimal("12.99")),
        (Size.MEDIUM, Decimal("16.89")),  # 12.99 x 1.30 = 16.887
        (Size.LARGE, Decimal("20.78")),  # 12.99 x 1.60 = 20.784
    ],
)
def test_a_margherita_costs_its_base_price_times_the_size_factor(
    size: Size, expected: Decimal
) -> None:
    assert MENU.item("margherita").price(size, 0) == expected


def test_the_size_factors_are_one_one_point_three_and_one_point_six() -> None:
    factors = {size.value: size.factor for size in Size}

    assert factors == {
        "small": Decimal("1.00"),
        "medium": Decimal("1.30"),
        "large": Decimal("1.60"),
    }


@pytest.mark.parametrize("toppings", [1, 2, 5])
def test_each_topping_adds_two_fifty(toppings: int) -> None:
    margherita = MENU.item("margherita")

    extra = margherita.price(Size.SMALL, toppings) - margherita.price(Size.SMALL, 0)

    assert extra == Decimal("2.50") * toppings
    assert Decimal("2.50") == TOPPING_PRICE


def test_a_unit_price_ending_in_half_a_cent_is_rounded_up_not_to_even() -> None:
    item = MenuItem("test pizza", Decimal("10.05"))
    exact = Decimal("10.05") * Decimal("1.30")  # 13.065
    assert exact.quantize(CENT, rounding=ROUND_HALF_EVEN) == Decimal("13.06")

    assert item.price(Size.MEDIUM, 0) == Decimal("13.07")
    assert item.price(Size.MEDIUM, 1) == Decimal("15.57")  # 15.565, half-up


def test_a_price_has_exactly_two_decimal_places() -> None:
    price = MENU.item("pepperoni").price(Size.LARGE, 1)

    assert price == Decimal("26.48")  # 23.984 + 2.50 = 26.484
    assert price.as_tuple().exponent == -2


@given(
    base_cents=st.integers(min_value=1, max_value=100_000),
    size=st.sampled_from(list(Size)),
    toppings=st.integers(min_value=0, max_value=10),
)
def test_a_unit_price_is_the_half_up_rounding_of_the_exact_amount(
    base_cents: int, size: Size, toppings: int
) -> None:
    factor_percent = {Size.SMALL: 100, Size.MEDIUM: 130, Size.LARGE: 160}[size]
    exact_ten_thousandths = base_cents * factor_percent + toppings * 250 * 100
    expected_cents = (exact_ten_thousandths + 50) // 100  # half-up, in integers

    item = MenuItem("any", Decimal(base_cents) / 100)

    assert item.price(size, toppings) == Decimal(expected_cents) / 100


@pytest.mark.parametrize("name", ["MARGHERITA", "Margherita", "  margherita ", "mArGhErItA"])
def test_pizza_names_match_whatever_their_case(name: str) -> None:
    assert MENU.item(name).name == "margherita"


def test_a_name_of_several_words_matches_whatever_its_blanks() -> None:
    assert MENU.item("Quattro   FORMAGGI").name == "quattro formaggi"


@pytest.mark.parametrize(
    ("spelled", "size"),
    [("small", Size.SMALL), ("MEDIUM", Size.MEDIUM), (" Large ", Size.LARGE)],
)
def test_sizes_match_whatever_their_case_and_blanks(spelled: str, size: Size) -> None:
    assert parse_size(spelled) is size


def test_an_unknown_pizza_is_an_invalid_request_naming_what_is_on_offer() -> None:
    with pytest.raises(UnknownPizzaError) as caught:
        MENU.item("hawaii", "pizzas.3.name")

    error = caught.value
    assert isinstance(error, InvalidRequestError)
    assert "hawaii" in error.message
    for name in ("margherita", "pepperoni", "supreme"):
        assert name in error.message
    assert error.field == "pizzas.3.name"


def test_an_unknown_size_is_an_invalid_request_naming_the_sizes_on_offer() -> None:
    with pytest.raises(UnknownSizeError) as caught:
        parse_size("family", "pizzas.0.size")

    error = caught.value
    assert isinstance(error, InvalidRequestError)
    assert "family" in error.message
    for size in ("small", "medium", "large"):
        assert size in error.message
    assert error.field == "pizzas.0.size"


def test_a_pizza_added_with_capitals_is_found_in_lower_case() -> None:
    menu = Menu([MenuItem("Diavola", Decimal("13.50"))])

    assert menu.item("diavola").base_price == Decimal("13.50")
    assert menu.on_offer() == ["Diavola"]
