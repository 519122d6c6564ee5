"""The card checks a shopper sees, and the simulated processor's documented test cards."""

import asyncio
from datetime import UTC, datetime

import pytest

from folio_payment.processor import Decision, SimulatedProcessor, brand_of, check_card, luhn_valid
from folio_platform.errors import InvalidArgument


def _now() -> datetime:
    return datetime(2026, 11, 27, tzinfo=UTC)


@pytest.mark.parametrize(
    ("number", "valid"),
    [
        ("4242424242424242", True),
        ("4242424242424241", False),
        ("4242424242424224", False),  # two digits swapped
        ("378282246310005", True),
        ("5555555555554444", True),
        ("2223003122003222", True),
        ("79927398713", True),
        ("79927398710", False),
        ("0000000000000000", True),
    ],
)
def test_luhn(number: str, valid: bool) -> None:
    assert luhn_valid(number) is valid


@pytest.mark.parametrize(
    ("number", "brand"),
    [
        ("4242424242424242", "visa"),
        ("378282246310005", "amex"),
        ("341111111111111", "amex"),
        ("5105105105105100", "mastercard"),
        ("5555555555554444", "mastercard"),
        ("2221000000000009", "mastercard"),
        ("2720990000000007", "mastercard"),
        ("2721000000000004", "unknown"),
        ("5610591081018250", "unknown"),
        ("6011111111111117", "unknown"),
    ],
)
def test_brand_from_prefix(number: str, brand: str) -> None:
    assert brand_of(number) == brand


@pytest.mark.parametrize(
    ("number", "month", "year", "cvv", "field", "hint"),
    [
        ("", 12, 2030, "123", "card.number", "required"),
        ("4242 4242 4242 4241", 12, 2030, "123", "card.number", "typo"),
        ("4242", 12, 2030, "123", "card.number", "12 to 19 digits"),
        ("4242 4242 4242 4242 4242", 12, 2030, "123", "card.number", "12 to 19 digits"),
        ("4242-4242-4242-424x", 12, 2030, "123", "card.number", "only digits"),
        ("\uff14\uff12" * 8, 12, 2030, "123", "card.number", "only digits"),  # full-width digits
        ("4242424242424242", 0, 2030, "123", "card.exp_month", "1 to 12"),
        ("4242424242424242", 13, 2030, "123", "card.exp_month", "1 to 12"),
        ("4242424242424242", 10, 2026, "123", "card.exp_month", "expired in 10/2026"),
        ("4242424242424242", 12, 2025, "123", "card.exp_year", "expired in 2025"),
        ("4242424242424242", 12, 30, "123", "card.exp_year", "four-digit"),
        ("4242424242424242", 12, 2047, "123", "card.exp_year", "too far ahead"),
        ("4242424242424242", 12, 2030, "12", "card.cvv", "3 digits"),
        ("4242424242424242", 12, 2030, "1234", "card.cvv", "3 digits"),
        ("4242424242424242", 12, 2030, "12a", "card.cvv", "3 digits"),
        ("378282246310005", 12, 2030, "123", "card.cvv", "4 digits"),
    ],
)
def test_a_bad_card_names_the_field_to_fix(
    number: str, month: int, year: int, cvv: str, field: str, hint: str
) -> None:
    with pytest.raises(InvalidArgument) as caught:
        check_card(number, month, year, cvv, now=_now)

    assert caught.value.field == field
    assert hint in caught.value.description


@pytest.mark.parametrize(
    ("number", "month", "year", "cvv", "brand", "last4"),
    [
        ("4242 4242-4242 4242", 11, 2026, "123", "visa", "4242"),  # expires this month: still good
        ("3782 822463 10005", 1, 2046, "1234", "amex", "0005"),  # 20 years ahead is the limit
        ("5555555555554444", 12, 2030, "000", "mastercard", "4444"),
        ("6011111111111117", 12, 2030, "999", "unknown", "1117"),
    ],
)
def test_a_good_card_is_normalised(
    number: str, month: int, year: int, cvv: str, brand: str, last4: str
) -> None:
    card = check_card(number, month, year, cvv, now=_now)

    assert (card.brand, card.last4) == (brand, last4)
    assert card.number.isdigit()
    assert card.number not in repr(card)
    assert cvv not in repr(card)


@pytest.mark.parametrize(
    ("number", "approved", "code", "message"),
    [
        ("4242424242424242", True, "", ""),
        ("5555555555554444", True, "", ""),
        ("4000000000000002", False, "card_declined", "Your card was declined."),
        ("4000000000009995", False, "insufficient_funds", "Your card has insufficient funds."),
    ],
)
async def test_test_cards(number: str, approved: bool, code: str, message: str) -> None:
    card = check_card(number, 12, 2030, "123", now=_now)
    decision = await SimulatedProcessor().authorize("key-1", card, 100, "USD")

    assert (decision.approved, decision.decline_code, decision.decline_message) == (approved, code, message)


async def test_the_timeout_card_outlasts_the_callers_timeout_and_authorizes_nothing() -> None:
    card = check_card("4000 0000 0000 0119", 12, 2030, "123", now=_now)
    processor = SimulatedProcessor()

    with pytest.raises(TimeoutError):
        await asyncio.wait_for(processor.authorize("key-1", card, 100, "USD"), 0.1)
    assert await processor.lookup("key-1") is None


async def test_the_lost_answer_card_authorizes_then_times_out_and_a_lookup_finds_it() -> None:
    card = check_card("4000 0000 0000 0127", 12, 2030, "123", now=_now)
    processor = SimulatedProcessor()

    with pytest.raises(TimeoutError):
        await asyncio.wait_for(processor.authorize("key-1", card, 100, "USD"), 0.1)
    assert await processor.lookup("key-1") == Decision(approved=True)


async def test_a_repeated_key_gets_the_first_decision_and_no_second_authorization() -> None:
    processor = SimulatedProcessor()
    declined = check_card("4000 0000 0000 0002", 12, 2030, "123", now=_now)
    good = check_card("4242 4242 4242 4242", 12, 2030, "123", now=_now)

    first = await processor.authorize("key-1", declined, 100, "USD")
    again = await processor.authorize("key-1", good, 100, "USD")

    assert again == first
    assert not first.approved
    assert await processor.lookup("key-1") == first
    assert await processor.lookup("key-2") is None


async def test_the_simulation_remembers_a_bounded_number_of_keys() -> None:
    processor = SimulatedProcessor(remembered=2)
    good = check_card("4242 4242 4242 4242", 12, 2030, "123", now=_now)
    for key in ("key-1", "key-2", "key-3"):
        await processor.authorize(key, good, 100, "USD")
    assert await processor.lookup("key-1") is None
    assert await processor.lookup("key-3") == Decision(approved=True)
