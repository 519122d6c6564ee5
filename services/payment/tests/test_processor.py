"""Card checks a shopper sees, and the documented test cards."""

from datetime import UTC, datetime

import pytest

from folio_payment.processor import SimulatedProcessor, brand_of, check_card, luhn_valid
from folio_platform.errors import InvalidArgument


def _now() -> datetime:
    return datetime(2026, 11, 27, tzinfo=UTC)


@pytest.mark.parametrize(
    ("number", "valid"),
    [
        ("4242424242424242", True),
        ("4242424242424241", False),
        ("378282246310005", True),
        ("5555555555554444", True),
        ("79927398713", True),
        ("79927398710", False),
    ],
)
def test_luhn(number: str, valid: bool) -> None:
    assert luhn_valid(number) is valid


def test_brands() -> None:
    assert brand_of("4242424242424242") == "visa"
    assert brand_of("378282246310005") == "amex"
    assert brand_of("5555555555554444") == "mastercard"
    assert brand_of("2223003122003222") == "mastercard"


@pytest.mark.parametrize(
    ("number", "month", "year", "cvv", "field"),
    [
        ("4242 4242 4242 4241", 12, 2030, "123", "card.number"),
        ("4242", 12, 2030, "123", "card.number"),
        ("4242-4242-4242-424x", 12, 2030, "123", "card.number"),
        ("4242424242424242", 13, 2030, "123", "card.exp_month"),
        ("4242424242424242", 10, 2026, "123", "card.exp_year"),
        ("4242424242424242", 12, 30, "123", "card.exp_year"),
        ("4242424242424242", 12, 2060, "123", "card.exp_year"),
        ("4242424242424242", 12, 2030, "12", "card.cvv"),
        ("378282246310005", 12, 2030, "123", "card.cvv"),
    ],
)
def test_bad_cards_name_the_field(number: str, month: int, year: int, cvv: str, field: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        check_card(number, month, year, cvv, now=_now)
    assert caught.value.field == field


def test_a_good_card_is_normalised() -> None:
    card = check_card("4242 4242-4242 4242", 11, 2026, "123", now=_now)
    assert (card.number, card.brand, card.last4) == ("4242424242424242", "visa", "4242")


@pytest.mark.parametrize(
    ("number", "approved", "code"),
    [
        ("4242424242424242", True, ""),
        ("4000000000000002", False, "card_declined"),
        ("4000000000009995", False, "insufficient_funds"),
    ],
)
async def test_test_cards(number: str, approved: bool, code: str) -> None:
    decision = await SimulatedProcessor().authorize(check_card(number, 12, 2030, "123", now=_now), 100, "USD")
    assert (decision.approved, decision.decline_code) == (approved, code)
