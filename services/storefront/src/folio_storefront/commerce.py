"""Cart and order views shared by the REST API and the pages: the cart enriched from the catalog."""

from collections.abc import Mapping
from datetime import UTC, datetime

from pydantic import BaseModel, Field

from folio.cart.v1 import cart_pb2
from folio.catalog.v1 import catalog_pb2
from folio.common.v1 import money_pb2
from folio.orders.v1 import orders_pb2
from folio_storefront.catalog_client import CatalogClient
from folio_storefront.schemas import Book, Price, book_of, price_of
from folio_storefront.shopper import Shopper

CARD_PATTERN = r"^[0-9 -]{12,23}$"
ID = r"^[a-z0-9][a-z0-9-]{0,159}$"


class CartLine(BaseModel):
    book: Book | None = Field(description="null when the book has left the catalog")
    book_id: str
    quantity: int
    line_total: Price | None


class CartView(BaseModel):
    items: list[CartLine]
    item_count: int = Field(description="copies in the cart")
    total: Price


class AddItem(BaseModel):
    book_id: str = Field(pattern=ID, max_length=160, examples=["moby-dick"])
    quantity: int = Field(default=1, ge=1, le=99)


class SetQuantity(BaseModel):
    quantity: int = Field(ge=1, le=99, description="1-99; DELETE the item to remove it")


class CardIn(BaseModel):
    number: str = Field(pattern=CARD_PATTERN, description="12-19 digits; spaces and dashes allowed")
    exp_month: int = Field(ge=1, le=12)
    exp_year: int = Field(ge=2000, le=2100, description="four digits")
    cvv: str = Field(pattern=r"^[0-9]{3,4}$")
    holder_name: str = Field(min_length=1, max_length=100)


class AddressIn(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    line1: str = Field(min_length=1, max_length=200)
    line2: str = Field(default="", max_length=200)
    city: str = Field(min_length=1, max_length=100)
    postal_code: str = Field(min_length=1, max_length=20)
    country: str = Field(pattern=r"^[A-Z]{2}$", description="ISO 3166-1 alpha-2, e.g. FR")


class CheckoutIn(BaseModel):
    email: str = Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", max_length=254)
    shipping_address: AddressIn
    card: CardIn


class OrderLineView(BaseModel):
    book_id: str
    title: str
    quantity: int
    unit_price: Price
    line_total: Price


class OrderView(BaseModel):
    id: str
    status: str = Field(description="pending, confirmed or failed")
    lines: list[OrderLineView]
    total: Price
    failure_reason: str | None
    email: str
    shipping_address: AddressIn | None
    created_at: datetime


class OrderPage(BaseModel):
    items: list[OrderView]
    total: int
    next_page_token: str | None


def _money(currency: str, minor_units: int) -> Price:
    return price_of(money_pb2.Money(currency_code=currency, minor_units=minor_units))


async def cart_view(
    cart: cart_pb2.Cart, catalog: CatalogClient, *, known: Mapping[str, catalog_pb2.Book] | None = None
) -> CartView:
    """The cart with each book's current title and price from the catalog, read in one call; `known`
    holds books this request has just read from it (the one being added), which are not asked for
    again. A book the catalog no longer has stays in the cart without title or price."""
    found_books = dict(known or {})
    wanted = [item.book_id for item in cart.items if item.book_id not in found_books]
    if wanted:
        found_books |= {book.id: book for book in await catalog.get_books(wanted)}
    books = [book_of(found_books[i.book_id]) if i.book_id in found_books else None for i in cart.items]
    lines = []
    total, currency = 0, "USD"
    for item, found in zip(cart.items, books, strict=True):
        line_total = None
        if found is not None:
            currency = found.price.currency
            minor = found.price.minor_units * item.quantity
            total += minor
            line_total = _money(currency, minor)
        lines.append(
            CartLine(book=found, book_id=item.book_id, quantity=item.quantity, line_total=line_total)
        )
    return CartView(
        items=lines, item_count=sum(i.quantity for i in cart.items), total=_money(currency, total)
    )


_STATUS = {
    orders_pb2.ORDER_STATUS_PENDING: "pending",
    orders_pb2.ORDER_STATUS_CONFIRMED: "confirmed",
    orders_pb2.ORDER_STATUS_FAILED: "failed",
}


def order_view(order: orders_pb2.Order) -> OrderView:
    address = order.shipping_address
    return OrderView(
        id=order.id,
        status=_STATUS.get(order.status, "unknown"),
        lines=[
            OrderLineView(
                book_id=line.book_id,
                title=line.title,
                quantity=line.quantity,
                unit_price=price_of(line.unit_price),
                line_total=_money(line.unit_price.currency_code, line.unit_price.minor_units * line.quantity),
            )
            for line in order.lines
        ],
        total=price_of(order.total),
        failure_reason=order.failure_reason or None,
        email=order.email,
        shipping_address=AddressIn(
            name=address.name,
            line1=address.line1,
            line2=address.line2,
            city=address.city,
            postal_code=address.postal_code,
            country=address.country,
        )
        if order.HasField("shipping_address") and address.country
        else None,
        created_at=datetime.fromtimestamp(order.created_at_unix_ms / 1000, tz=UTC),
    )


def place_order_request(
    shopper: Shopper, idempotency_key: str, checkout: CheckoutIn
) -> orders_pb2.PlaceOrderRequest:
    from folio.payment.v1 import payment_pb2

    card, address = checkout.card, checkout.shipping_address
    return orders_pb2.PlaceOrderRequest(
        shopper_id=shopper.id,
        idempotency_key=idempotency_key,
        email=checkout.email,
        card=payment_pb2.Card(
            number=card.number,
            exp_month=card.exp_month,
            exp_year=card.exp_year,
            cvv=card.cvv,
            holder_name=card.holder_name,
        ),
        shipping_address=orders_pb2.ShippingAddress(**address.model_dump()),
    )
