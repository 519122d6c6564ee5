"""The simulated card processor: the card checks a shopper sees, and the documented test cards.

This is a real part of the product, not a test double: it is what the embedded stack and the
demo charge against. It never moves money. A real payment provider would be another
`CardProcessor` (`authorize` under an idempotency key, `lookup` by that key); `check_card`
stays the same in front of either.

| number              | outcome                                                              |
|---------------------|----------------------------------------------------------------------|
| 4242 4242 4242 4242 | approved (as is any other valid number)                              |
| 4000 0000 0000 0002 | declined: card_declined                                              |
| 4000 0000 0000 9995 | declined: insufficient_funds                                         |
| 4000 0000 0000 0119 | never answers, authorizes nothing: the processor timeout fires       |
| 4000 0000 0000 0127 | approved, then the answer is lost: the timeout fires, a lookup finds |
|                     | the authorization                                                    |
"""

import asyncio
import re
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from folio_platform.errors import InvalidArgument

DECLINES = {
    "4000000000000002": ("card_declined", "Your card was declined."),
    "4000000000009995": ("insufficient_funds", "Your card has insufficient funds."),
}
TIMES_OUT = "4000000000000119"
ANSWER_LOST = "4000000000000127"
# How many keys the simulation remembers (a real provider keeps its keys for a day or so).
REMEMBERED_KEYS = 100_000
# The longest an expiry may lie ahead; cards are issued for a few years, never decades.
MAX_YEARS_AHEAD = 20

type Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class CardDetails:
    """A card that passed `check_card`. Number and CVV live only in memory, never in a repr."""

    number: str = field(repr=False)  # digits only
    brand: str
    exp_month: int
    exp_year: int
    cvv: str = field(repr=False)

    @property
    def last4(self) -> str:
        return self.number[-4:]


@dataclass(frozen=True)
class Decision:
    """The processor's answer: approved, or declined with a code and a message for the shopper."""

    approved: bool
    decline_code: str = ""
    decline_message: str = ""


def luhn_valid(digits: str) -> bool:
    """The Luhn checksum every card number carries (catches a mistyped digit or swapped pair)."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        n = int(char)
        if position % 2 == 1:
            n = n * 2 - 9 if n > 4 else n * 2
        total += n
    return total % 10 == 0


def brand_of(digits: str) -> str:
    """visa, mastercard or amex from the number's prefix; "unknown" for any other network."""
    if digits.startswith("4"):
        return "visa"
    if digits[:2] in ("34", "37"):
        return "amex"
    if 51 <= int(digits[:2]) <= 55 or 2221 <= int(digits[:4]) <= 2720:
        return "mastercard"
    return "unknown"


def check_card(number: str, exp_month: int, exp_year: int, cvv: str, *, now: Clock = utc_now) -> CardDetails:
    """The card, normalised; InvalidArgument naming the first field the shopper must fix."""
    digits = re.sub(r"[ -]", "", number)
    if not digits:
        raise InvalidArgument("card.number", "is required")
    if not digits.isascii() or not digits.isdigit():
        raise InvalidArgument("card.number", "may contain only digits, spaces and dashes")
    if not 12 <= len(digits) <= 19:
        raise InvalidArgument("card.number", f"must have 12 to 19 digits (this one has {len(digits)})")
    if not luhn_valid(digits):
        raise InvalidArgument("card.number", "is not a valid card number; check it for a typo")
    if not 1 <= exp_month <= 12:
        raise InvalidArgument("card.exp_month", "must be a month from 1 to 12")
    if not 1000 <= exp_year <= 9999:
        raise InvalidArgument("card.exp_year", "must be the full four-digit year, e.g. 2030")
    today = now()
    if exp_year < today.year:
        raise InvalidArgument("card.exp_year", f"the card expired in {exp_year}; use another card")
    if exp_year == today.year and exp_month < today.month:
        raise InvalidArgument(
            "card.exp_month", f"the card expired in {exp_month:02d}/{exp_year}; use another card"
        )
    if exp_year > today.year + MAX_YEARS_AHEAD:
        raise InvalidArgument("card.exp_year", f"{exp_year} is too far ahead; check the year on the card")
    brand = brand_of(digits)
    length = 4 if brand == "amex" else 3
    if not (len(cvv) == length and cvv.isascii() and cvv.isdigit()):
        where = "on the front of the card" if brand == "amex" else "on the back of the card"
        raise InvalidArgument("card.cvv", f"must be the {length} digits {where}")
    return CardDetails(number=digits, brand=brand, exp_month=exp_month, exp_year=exp_year, cvv=cvv)


class ProcessorUnavailable(Exception):
    """The processor could not say what happened under a key (down, or the request still in progress)."""


class CardProcessor(Protocol):
    """Asks a card network to take money, under an idempotency key. The caller bounds each call
    with its own timeout.

    `authorize` with a key the processor has already seen returns the first decision and never
    authorizes again; `lookup` answers what happened under a key without authorizing anything.
    """

    async def authorize(self, key: str, card: CardDetails, amount_minor: int, currency: str) -> Decision: ...

    async def lookup(self, key: str) -> Decision | None:
        """The decision made under `key`; None if the processor never authorized anything under it.
        ProcessorUnavailable when it cannot tell."""
        ...


class SimulatedProcessor:
    """Approves every valid card but the documented declining and timing-out test cards, and
    remembers the decision made under each key (the most recent `remembered` keys)."""

    def __init__(self, *, hang_seconds: float = 120.0, remembered: int = REMEMBERED_KEYS) -> None:
        # Longer than any processor timeout the settings allow, so the caller's timeout fires first.
        self.hang_seconds = hang_seconds
        self.remembered = remembered
        self._decisions: OrderedDict[str, Decision] = OrderedDict()

    def _remember(self, key: str, decision: Decision) -> None:
        self._decisions[key] = decision
        while len(self._decisions) > self.remembered:
            self._decisions.popitem(last=False)

    async def authorize(self, key: str, card: CardDetails, amount_minor: int, currency: str) -> Decision:
        if key in self._decisions:
            return self._decisions[key]
        if card.number == TIMES_OUT:
            # The request never reaches the network: a caller that gives up leaves nothing behind.
            await asyncio.sleep(self.hang_seconds)
        decision = Decision(approved=True)
        if card.number in DECLINES:
            code, message = DECLINES[card.number]
            decision = Decision(approved=False, decline_code=code, decline_message=message)
        self._remember(key, decision)
        if card.number == ANSWER_LOST:
            await asyncio.sleep(self.hang_seconds)
        return decision

    async def lookup(self, key: str) -> Decision | None:
        return self._decisions.get(key)
