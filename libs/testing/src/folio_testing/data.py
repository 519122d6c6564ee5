"""Test data every suite shares: the simulated processor's test cards, a shipping address, a checkout.

The card numbers are the simulated card processor's documented test cards (services/payment/README.md):
any future expiry and any 3-digit CVV go with them.
"""

from typing import Any

from folio.orders.v1 import orders_pb2
from folio.payment.v1 import payment_pb2

GOOD_CARD_NUMBER = "4242424242424242"  # approved
DECLINED_CARD_NUMBER = "4000000000000002"  # declined: card_declined
NO_FUNDS_CARD_NUMBER = "4000000000009995"  # declined: insufficient_funds
TIMEOUT_CARD_NUMBER = "4000000000000119"  # the processor never answers
LOST_ANSWER_CARD_NUMBER = "4000000000000127"  # the processor approves, then its answer is lost
BAD_LUHN_CARD_NUMBER = "4242424242424241"  # fails the Luhn check: INVALID_ARGUMENT / 400
EXP_MONTH, EXP_YEAR, CVV = 12, 2035, "123"
EMAIL = "ada@example.org"

# The public REST API's shapes (POST /api/v1/orders), spaced as a shopper types the number.
CARD: dict[str, Any] = {
    "number": "4242 4242 4242 4242",
    "exp_month": EXP_MONTH,
    "exp_year": EXP_YEAR,
    "cvv": CVV,
    "holder_name": "Ada Lovelace",
}
DECLINED_CARD: dict[str, Any] = CARD | {"number": "4000 0000 0000 0002"}
BAD_LUHN_CARD: dict[str, Any] = CARD | {"number": "4242 4242 4242 4241"}
ADDRESS: dict[str, str] = {
    "name": "Ada Lovelace",
    "line1": "12 St James's Square",
    "line2": "",
    "city": "London",
    "postal_code": "SW1Y 4JH",
    "country": "GB",
}


def checkout(card: dict[str, Any] = CARD, **overrides: Any) -> dict[str, Any]:
    """A valid checkout body for POST /api/v1/orders; keyword arguments replace its fields."""
    return {"email": EMAIL, "shipping_address": ADDRESS, "card": card} | overrides


def card_message(number: str = GOOD_CARD_NUMBER) -> payment_pb2.Card:
    """A test card as the payment and orders RPCs take it."""
    return payment_pb2.Card(number=number, exp_month=EXP_MONTH, exp_year=EXP_YEAR, cvv=CVV)


def address_message() -> orders_pb2.ShippingAddress:
    """The shared shipping address as the orders RPCs take it."""
    return orders_pb2.ShippingAddress(**ADDRESS)
