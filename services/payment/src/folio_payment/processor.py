"""The simulated card processor: card checks, documented test cards, and their outcomes.

It is the embedded stand-in for a real payment provider, which would implement the same
`CardProcessor` protocol. Test cards (any future expiry, any CVV of the right length):

| number              | outcome                                            |
|---------------------|----------------------------------------------------|
| 4242 4242 4242 4242 | succeeds (as does any other valid number)          |
| 4000 0000 0000 0002 | declined: card_declined                            |
| 4000 0000 0000 9995 | declined: insufficient_funds                       |
| 4000 0000 0000 0119 | the processor never answers (the service times out) |
"""

import asyncio
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from folio_platform.errors import InvalidArgument

DECLINES = {
    "4000000000000002": ("card_declined", "Your card was declined."),
    "4000000000009995": ("insufficient_funds", "Your card has insufficient funds."),
}
HANGS = "4000000000000119"


@dataclass(frozen=True)
class CardDetails:
    number: str  # digits only
    brand: str
    exp_month: int
    exp_year: int

    @property
    def last4(self) -> str:
        return self.number[-4:]


@dataclass(frozen=True)
class Decision:
    approved: bool
    decline_code: str = ""
    decline_message: str = ""


def luhn_valid(digits: str) -> bool:
    total = 0
    for i, char in enumerate(reversed(digits)):
        n = int(char)
        if i % 2 == 1:
            n = n * 2 - 9 if n > 4 else n * 2
        total += n
    return total % 10 == 0


def brand_of(digits: str) -> str:
    if digits.startswith("4"):
        return "visa"
    if digits[:2] in ("34", "37"):
        return "amex"
    if 51 <= int(digits[:2]) <= 55 or 2221 <= int(digits[:4]) <= 2720:
        return "mastercard"
    return "card"


def check_card(
    number: str,
    exp_month: int,
    exp_year: int,
    cvv: str,
    *,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> CardDetails:
    """The card, normalised; InvalidArgument naming the first field a shopper must fix."""
    digits = re.sub(r"[ -]", "", number)
    if not digits.isdigit() or not 12 <= len(digits) <= 19:
        raise InvalidArgument("card.number", "must be 12 to 19 digits")
    if not luhn_valid(digits):
        raise InvalidArgument("card.number", "is not a valid card number; check for a typo")
    if not 1 <= exp_month <= 12:
        raise InvalidArgument("card.exp_month", "must be a month from 1 to 12")
    today = now()
    if not 1000 <= exp_year <= 9999:
        raise InvalidArgument("card.exp_year", "must have four digits, e.g. 2030")
    if (exp_year, exp_month) < (today.year, today.month):
        raise InvalidArgument("card.exp_year", "the card has expired")
    if exp_year > today.year + 20:
        raise InvalidArgument("card.exp_year", "is too far in the future")
    brand = brand_of(digits)
    if not re.fullmatch(r"\d{4}" if brand == "amex" else r"\d{3}", cvv):
        raise InvalidArgument("card.cvv", f"must be {4 if brand == 'amex' else 3} digits")
    return CardDetails(digits, brand, exp_month, exp_year)


class CardProcessor(Protocol):
    async def authorize(self, card: CardDetails, amount_minor: int, currency: str) -> Decision: ...


class SimulatedProcessor:
    """Approves every card but the documented declining and hanging test cards."""

    async def authorize(self, card: CardDetails, amount_minor: int, currency: str) -> Decision:
        if card.number == HANGS:
            await asyncio.sleep(3600)  # the caller's timeout fires first
        if card.number in DECLINES:
            code, message = DECLINES[card.number]
            return Decision(False, code, message)
        return Decision(True)
