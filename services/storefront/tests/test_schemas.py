"""Prices in the API: the decimal string always matches the minor units, to the cent."""

import pytest

from folio.common.v1 import money_pb2
from folio_storefront.schemas import price_of


@pytest.mark.parametrize(
    ("minor_units", "amount"),
    [
        (0, "0.00"),
        (5, "0.05"),
        (99, "0.99"),
        (100, "1.00"),
        (1299, "12.99"),
        (123456789, "1234567.89"),
        (-1299, "-12.99"),
    ],
)
def test_the_amount_is_the_minor_units_with_two_decimals(minor_units: int, amount: str) -> None:
    price = price_of(money_pb2.Money(currency_code="USD", minor_units=minor_units))
    assert (price.currency, price.amount, price.minor_units) == ("USD", amount, minor_units)
