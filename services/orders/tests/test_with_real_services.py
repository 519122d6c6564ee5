"""PlaceOrder against the real cart, catalog (stock) and payment services, in-process over gRPC."""

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest

from folio.cart.v1 import cart_pb2, cart_pb2_grpc
from folio.catalog.v1 import catalog_pb2, catalog_pb2_grpc
from folio.orders.v1 import orders_pb2, orders_pb2_grpc
from folio.payment.v1 import payment_pb2, payment_pb2_grpc
from folio_cart.servicer import ACCESS as CART_ACCESS
from folio_cart.servicer import CartServicer
from folio_cart.store import Limits, SqliteCartStore
from folio_cart.tables import MIGRATIONS as CART_MIGRATIONS
from folio_catalog.repository import SqlCatalogRepository
from folio_catalog.seed import load_seed
from folio_catalog.servicer import ACCESS as CATALOG_ACCESS
from folio_catalog.servicer import CatalogServicer
from folio_catalog.tables import MIGRATIONS as CATALOG_MIGRATIONS
from folio_orders.app import connect_backends
from folio_orders.reconcile import reconcile
from folio_orders.saga import PAYMENT_DOWN, Checkout
from folio_orders.servicer import ACCESS as ORDERS_ACCESS
from folio_orders.servicer import OrdersServicer
from folio_orders.settings import Settings
from folio_orders.store import SqlOrderStore
from folio_orders.tables import MIGRATIONS
from folio_payment.ledger import SqlLedger
from folio_payment.processor import CardDetails, Decision, SimulatedProcessor
from folio_payment.servicer import ACCESS as PAYMENT_ACCESS
from folio_payment.servicer import PaymentServicer
from folio_payment.tables import MIGRATIONS as PAYMENT_MIGRATIONS
from folio_platform.auth import ServiceTokens
from folio_platform.database import Database
from folio_platform.errors import field_violations
from folio_platform.grpc_server import GrpcServer, ServerAuth
from folio_platform.telemetry import Telemetry
from folio_testing.data import (
    BAD_LUHN_CARD_NUMBER,
    DECLINED_CARD_NUMBER,
    EMAIL,
    GOOD_CARD_NUMBER,
    LOST_ANSWER_CARD_NUMBER,
    TIMEOUT_CARD_NUMBER,
    address_message,
    card_message,
)
from folio_testing.issuer import TestIssuer

from .conftest import CALL_TIMEOUT, CHARGE_TIMEOUT, CLIENT_TIMEOUT

# The card processor that never answers is cut off after this; a good card answers far sooner,
# even on a loaded machine.
PROCESSOR_TIMEOUT = 1.0


class CountingProcessor(SimulatedProcessor):
    """The simulated card processor, counting the authorizations asked of it (a test spy)."""

    def __init__(self) -> None:
        super().__init__()
        self.authorizations = 0

    async def authorize(self, key: str, card: CardDetails, amount_minor: int, currency: str) -> Decision:
        self.authorizations += 1
        return await super().authorize(key, card, amount_minor, currency)


@dataclass
class Shop:
    orders: orders_pb2_grpc.OrdersServiceStub
    cart: cart_pb2_grpc.CartServiceStub
    catalog: catalog_pb2_grpc.CatalogServiceStub
    payment: payment_pb2_grpc.PaymentServiceStub
    operator: orders_pb2_grpc.OrdersServiceStub
    processor: CountingProcessor

    async def book(self, book_id: str) -> catalog_pb2.Book:
        return await self.catalog.GetBook(catalog_pb2.GetBookRequest(id=book_id))

    async def reconciled(self) -> None:
        orders = await self.operator.ListAllOrders(orders_pb2.ListAllOrdersRequest(page_size=100))
        payments = await self.payment.ListPayments(payment_pb2.ListPaymentsRequest(page_size=100))
        report = reconcile(list(orders.orders), list(payments.payments))
        assert report.ok, report.summary()


async def _serve(register, name: str, auth: ServerAuth) -> GrpcServer:  # type: ignore[no-untyped-def]
    server = GrpcServer(
        register=register,
        service_names=[name],
        address="127.0.0.1:0",
        telemetry=Telemetry(enabled=False),
        auth=auth,
    )
    await server.start()
    return server


@pytest.fixture
async def shop(tmp_path: Path, issuer: TestIssuer) -> AsyncIterator[Shop]:
    """The four services wired as in production; the test calls orders as the storefront does for a
    guest, and reads the others as orders' own service account."""
    catalog_url = f"sqlite:///{tmp_path / 'catalog.db'}"
    databases = [
        Database.open(catalog_url, CATALOG_MIGRATIONS),
        Database.open(f"sqlite:///{tmp_path / 'payment.db'}", PAYMENT_MIGRATIONS),
        Database.open(f"sqlite:///{tmp_path / 'cart.db'}", CART_MIGRATIONS),
    ]
    repository = SqlCatalogRepository(databases[0])
    await load_seed(repository)
    ledger = SqlLedger(databases[1])
    cart_store = SqliteCartStore(databases[2], Limits())

    catalog_servicer = CatalogServicer(repository)
    cart_servicer = CartServicer(cart_store)
    processor = CountingProcessor()
    payment_servicer = PaymentServicer(ledger, processor, processor_timeout=PROCESSOR_TIMEOUT)
    servers = {
        "catalog": await _serve(
            lambda s: catalog_pb2_grpc.add_CatalogServiceServicer_to_server(catalog_servicer, s),
            "folio.catalog.v1.CatalogService",
            issuer.server_auth(CATALOG_ACCESS),
        ),
        "cart": await _serve(
            lambda s: cart_pb2_grpc.add_CartServiceServicer_to_server(cart_servicer, s),
            "folio.cart.v1.CartService",
            issuer.server_auth(CART_ACCESS),
        ),
        "payment": await _serve(
            lambda s: payment_pb2_grpc.add_PaymentServiceServicer_to_server(payment_servicer, s),
            "folio.payment.v1.PaymentService",
            issuer.server_auth(PAYMENT_ACCESS),
        ),
    }
    settings = Settings(
        data_dir=tmp_path,
        service_addresses={name: f"127.0.0.1:{server.port}" for name, server in servers.items()},
        call_timeout_seconds=CALL_TIMEOUT,
        charge_timeout_seconds=CHARGE_TIMEOUT,
    )
    databases.append(Database.open(settings.resolved_database_url(), MIGRATIONS))
    store = SqlOrderStore(databases[-1])
    tokens = ServiceTokens(
        issuer=issuer.url, client_id="folio-orders", client_secret=issuer.clients["folio-orders"]
    )
    backends, channels = connect_backends(settings, Telemetry(enabled=False), tokens.token)
    orders_servicer = OrdersServicer(store, Checkout(store, backends))
    servers["orders"] = await _serve(
        lambda s: orders_pb2_grpc.add_OrdersServiceServicer_to_server(orders_servicer, s),
        "folio.orders.v1.OrdersService",
        issuer.server_auth(ORDERS_ACCESS),
    )
    as_orders, as_storefront = issuer.service_token("folio-orders"), issuer.service_token("folio-storefront")
    channel = {
        name: issuer.channel(
            s.port, as_storefront if name == "orders" else as_orders, default_timeout=CLIENT_TIMEOUT
        )
        for name, s in servers.items()
    }
    channel["operator"] = issuer.channel(servers["orders"].port, as_orders, default_timeout=CLIENT_TIMEOUT)
    yield Shop(
        orders=orders_pb2_grpc.OrdersServiceStub(channel["orders"]),
        cart=cart_pb2_grpc.CartServiceStub(channel["cart"]),
        catalog=catalog_pb2_grpc.CatalogServiceStub(channel["catalog"]),
        payment=payment_pb2_grpc.PaymentServiceStub(channel["payment"]),
        operator=orders_pb2_grpc.OrdersServiceStub(channel["operator"]),
        processor=processor,
    )
    for c in [*channel.values(), *channels]:
        await c.close()
    for server in servers.values():
        await server.stop()
    await tokens.close()
    for database in databases:
        database.close()


def _request(key: str, number: str = GOOD_CARD_NUMBER) -> orders_pb2.PlaceOrderRequest:
    return orders_pb2.PlaceOrderRequest(
        shopper_id="anon-ada",
        idempotency_key=key,
        email=EMAIL,
        card=card_message(number),
        shipping_address=address_message(),
    )


async def _fill_cart(shop: Shop, book_id: str, quantity: int) -> None:
    await shop.cart.EmptyCart(cart_pb2.EmptyCartRequest(shopper_id="anon-ada"))
    await shop.cart.AddItem(
        cart_pb2.AddItemRequest(shopper_id="anon-ada", book_id=book_id, quantity=quantity)
    )


async def test_checkout_against_the_real_services(shop: Shop) -> None:
    page = await shop.catalog.ListBooks(catalog_pb2.ListBooksRequest(page_size=50))
    book = next(b for b in page.books if b.stock >= 3)
    await _fill_cart(shop, book.id, 2)

    order = await shop.orders.PlaceOrder(_request("real-checkout-1"))

    assert order.status == orders_pb2.ORDER_STATUS_CONFIRMED
    assert [(line.book_id, line.title, line.unit_price) for line in order.lines] == [
        (book.id, book.title, book.price)
    ]
    assert order.total.minor_units == 2 * book.price.minor_units
    assert (await shop.book(book.id)).stock == book.stock - 2
    assert not (await shop.cart.GetCart(cart_pb2.GetCartRequest(shopper_id="anon-ada"))).items
    charge = await shop.payment.GetPayment(payment_pb2.GetPaymentRequest(idempotency_key=f"order-{order.id}"))
    assert (charge.id, charge.status, charge.amount) == (
        order.payment_id,
        payment_pb2.PAYMENT_STATUS_SUCCEEDED,
        order.total,
    )
    assert await shop.orders.PlaceOrder(_request("real-checkout-1")) == order

    # A declined card, a malformed one and a processor that never answers: nothing charged or held.
    for key, number, code, expected in [
        (
            "real-declined-1",
            DECLINED_CARD_NUMBER,
            grpc.StatusCode.FAILED_PRECONDITION,
            "Your card was declined.",
        ),
        ("real-bad-card-1", BAD_LUHN_CARD_NUMBER, grpc.StatusCode.INVALID_ARGUMENT, "card.number"),
        ("real-timeout-1", TIMEOUT_CARD_NUMBER, grpc.StatusCode.UNAVAILABLE, PAYMENT_DOWN),
    ]:
        await _fill_cart(shop, book.id, 1)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await shop.orders.PlaceOrder(_request(key, number))
        assert caught.value.code() == code
        if code == grpc.StatusCode.INVALID_ARGUMENT:
            assert field_violations(caught.value)[0][0] == expected
        else:
            assert caught.value.details() == expected
        assert (await shop.book(book.id)).stock == book.stock - 2
    await shop.reconciled()


async def test_a_processor_that_authorizes_then_times_out_charges_once_and_confirms(shop: Shop) -> None:
    """Payment asks the processor by key after the timeout and finds the authorization: one
    authorization, the order confirmed with that one charge, orders and payments in agreement."""
    page = await shop.catalog.ListBooks(catalog_pb2.ListBooksRequest(page_size=50))
    book = next(b for b in page.books if b.stock >= 1)
    await _fill_cart(shop, book.id, 1)

    order = await shop.orders.PlaceOrder(_request("lost-answer-1", LOST_ANSWER_CARD_NUMBER))

    assert order.status == orders_pb2.ORDER_STATUS_CONFIRMED
    assert shop.processor.authorizations == 1
    payments = await shop.payment.ListPayments(payment_pb2.ListPaymentsRequest(page_size=100))
    assert [(p.id, p.status) for p in payments.payments] == [
        (order.payment_id, payment_pb2.PAYMENT_STATUS_SUCCEEDED)
    ]
    assert (await shop.book(book.id)).stock == book.stock - 1
    await shop.reconciled()
