"""folio.orders.v1.OrdersService: checkout and order history.

Called by the storefront on behalf of the shopper in its session: with the person's own token,
or with the storefront's service account for a guest. Every shopper-scoped call names
`shopper_id`, the caller must be allowed to act for it, and another shopper's order is
NOT_FOUND. ListAllOrders is the operators' view (`folio reconcile`, admins). ListCoPurchases is
what the assistant learns "readers also bought" from: pairs of book ids with the number of
distinct orders behind them, published only above a floor of supporting orders.
"""

import re

import grpc

from folio.common.v1 import money_pb2
from folio.orders.v1 import orders_pb2, orders_pb2_grpc
from folio_orders.saga import Checkout, failure_error
from folio_orders.store import OrderRecord, OrderStatus, OrderStore
from folio_platform import pagination
from folio_platform.auth import SUPPORT_ROLE, checked_shopper, role, rules_for, signed_in
from folio_platform.errors import InvalidArgument, NotFound, Unavailable

KEY = re.compile(r"[A-Za-z0-9_-]{8,100}")
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
STATUSES = {
    OrderStatus.PENDING: orders_pb2.ORDER_STATUS_PENDING,
    OrderStatus.CONFIRMED: orders_pb2.ORDER_STATUS_CONFIRMED,
    OrderStatus.FAILED: orders_pb2.ORDER_STATUS_FAILED,
}
# A pair bought together is published only when this many distinct orders hold both: below it,
# a pair could reveal one shopper's basket (through "readers also bought" on a book page).
CO_PURCHASE_MIN_ORDERS = 5
ADDRESS_FIELDS = ("name", "line1", "line2", "city", "postal_code", "country")

Context = grpc.aio.ServicerContext[object, object]

_SHOPPERS = signed_in(services=("folio-storefront",))
ACCESS = rules_for(
    orders_pb2.DESCRIPTOR.services_by_name["OrdersService"],
    {
        "PlaceOrder": _SHOPPERS,
        "GetOrder": _SHOPPERS,
        "ListOrders": _SHOPPERS,
        # Every shopper's orders: support staff (customer service, finance) and orders' own account
        # (`folio reconcile`); a catalog admin manages books, not orders.
        "ListAllOrders": role(SUPPORT_ROLE, services=("folio-orders",)),
        # Aggregated pairs only (no order data): what the assistant's "readers also bought" needs.
        "ListCoPurchases": role("catalog-admin", services=("folio-assistant",)),
    },
)


def order_message(order: OrderRecord) -> orders_pb2.Order:
    return orders_pb2.Order(
        id=order.id,
        shopper_id=order.shopper_id,
        status=STATUSES[order.status],
        lines=[
            orders_pb2.OrderLine(
                book_id=line.book_id,
                title=line.title,
                quantity=line.quantity,
                unit_price=money_pb2.Money(
                    currency_code=line.currency_code, minor_units=line.unit_price_minor
                ),
            )
            for line in order.lines
        ],
        total=money_pb2.Money(currency_code=order.currency_code, minor_units=order.total_minor),
        payment_id=order.payment_id,
        failure_reason=order.failure_reason,
        shipping_address=orders_pb2.ShippingAddress(**order.shipping_address),
        email=order.email,
        created_at_unix_ms=order.created_at_ms,
    )


def _address(address: orders_pb2.ShippingAddress) -> dict[str, str]:
    values = {f: getattr(address, f).strip() for f in ADDRESS_FIELDS}
    values["country"] = values["country"].upper()
    for required in ("name", "line1", "city", "postal_code"):
        if not values[required]:
            raise InvalidArgument(f"shipping_address.{required}", "is required")
    for name in ADDRESS_FIELDS:
        if len(values[name]) > 200:
            raise InvalidArgument(f"shipping_address.{name}", "is too long (200 characters at most)")
    if not re.fullmatch(r"[A-Z]{2}", values["country"]):
        raise InvalidArgument("shipping_address.country", "must be a two-letter country code such as FR")
    return values


class OrdersServicer(orders_pb2_grpc.OrdersServiceServicer):
    def __init__(self, store: OrderStore, checkout: Checkout) -> None:
        self.store = store
        self.checkout = checkout

    async def PlaceOrder(self, request: orders_pb2.PlaceOrderRequest, context: Context) -> orders_pb2.Order:
        shopper = checked_shopper(request.shopper_id)
        if not KEY.fullmatch(request.idempotency_key):
            raise InvalidArgument(
                "idempotency_key", "must be 8-100 letters, digits, '-' or '_' (one per checkout)"
            )
        if not EMAIL.fullmatch(request.email) or len(request.email) > 254:
            raise InvalidArgument("email", "is not an email address")
        if not request.HasField("card") or not request.card.number:
            raise InvalidArgument("card.number", "is required")
        address = _address(request.shipping_address)
        order, _ = await self.store.claim(
            shopper_id=shopper, key=request.idempotency_key, email=request.email, address=address
        )
        # A retry, or a concurrent duplicate, drives the same saga: it never starts a second one.
        order = await self.checkout.advance(order, request.card)
        if order.status == OrderStatus.FAILED:
            raise failure_error(order)
        if order.status == OrderStatus.PENDING:
            raise Unavailable("orders", "checkout is still in progress; retry with the same key")
        return order_message(order)

    async def GetOrder(self, request: orders_pb2.GetOrderRequest, context: Context) -> orders_pb2.Order:
        shopper = checked_shopper(request.shopper_id)
        order = await self.store.get(request.order_id) if request.order_id else None
        # Another shopper's order is as invisible as one that does not exist.
        if order is None or order.shopper_id != shopper:
            raise NotFound(f"no order {request.order_id!r}")
        return order_message(order)

    async def ListOrders(
        self, request: orders_pb2.ListOrdersRequest, context: Context
    ) -> orders_pb2.ListOrdersResponse:
        shopper = checked_shopper(request.shopper_id)
        size = pagination.page_size(request.page_size)
        offset = pagination.decode(request.page_token, "orders", shopper)
        found, total = await self.store.for_shopper(shopper, offset=offset, limit=size)
        return orders_pb2.ListOrdersResponse(
            orders=[order_message(o) for o in found],
            next_page_token=pagination.next_token(offset, size, total, "orders", shopper),
            total_size=total,
        )

    async def ListAllOrders(
        self, request: orders_pb2.ListAllOrdersRequest, context: Context
    ) -> orders_pb2.ListOrdersResponse:
        size = pagination.page_size(request.page_size)
        offset = pagination.decode(request.page_token, "all-orders")
        found, total = await self.store.everything(offset=offset, limit=size)
        return orders_pb2.ListOrdersResponse(
            orders=[order_message(o) for o in found],
            next_page_token=pagination.next_token(offset, size, total, "all-orders"),
            total_size=total,
        )

    async def ListCoPurchases(
        self, request: orders_pb2.ListCoPurchasesRequest, context: Context
    ) -> orders_pb2.ListCoPurchasesResponse:
        if request.min_orders < 0:
            raise InvalidArgument("min_orders", "must not be negative")
        size = pagination.page_size(request.page_size)
        floor = max(request.min_orders, CO_PURCHASE_MIN_ORDERS)
        offset = pagination.decode(request.page_token, "co-purchases", floor)
        found, total = await self.store.co_purchases(min_orders=floor, offset=offset, limit=size)
        return orders_pb2.ListCoPurchasesResponse(
            pairs=[
                orders_pb2.CoPurchase(book_id_a=p.book_a, book_id_b=p.book_b, orders=p.orders) for p in found
            ],
            next_page_token=pagination.next_token(offset, size, total, "co-purchases", floor),
            total_size=total,
        )
