"""CartService through a real in-process gRPC server."""

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import grpc
import pytest

from folio.cart.v1 import cart_pb2, cart_pb2_grpc
from folio_cart.servicer import ACCESS, CartServicer, _book
from folio_cart.store import CartStore, Limits, RedisCartStore, SqliteCartStore
from folio_cart.tables import MIGRATIONS
from folio_platform.database import Database
from folio_platform.errors import InvalidArgument, field_violations
from folio_platform.grpc_server import GrpcServer
from folio_platform.telemetry import Telemetry
from folio_testing.issuer import FORGED_KINDS, TestIssuer, forged_tokens


async def _serve(store: CartStore, issuer: TestIssuer) -> GrpcServer:
    servicer = CartServicer(store)
    server = GrpcServer(
        register=lambda s: cart_pb2_grpc.add_CartServiceServicer_to_server(servicer, s),
        service_names=["folio.cart.v1.CartService"],
        address="127.0.0.1:0",
        telemetry=Telemetry(enabled=False),
        auth=issuer.server_auth(ACCESS),
    )
    await server.start()
    return server


@pytest.fixture
async def stub(tmp_path: Path, issuer: TestIssuer) -> AsyncIterator[cart_pb2_grpc.CartServiceStub]:
    """The cart as the storefront's service account sees it (guest carts, anon-...)."""
    with Database.open(f"sqlite:///{tmp_path / 'cart.db'}", MIGRATIONS) as database:
        server = await _serve(SqliteCartStore(database, Limits()), issuer)
        channel = issuer.channel(server.port, issuer.service_token("folio-storefront"))
        yield cart_pb2_grpc.CartServiceStub(channel)
        await channel.close()
        await server.stop()


async def test_a_cart_through_grpc(stub: cart_pb2_grpc.CartServiceStub) -> None:
    await stub.AddItem(cart_pb2.AddItemRequest(shopper_id="anon-1", book_id="moby-dick", quantity=2))
    cart = await stub.UpdateQuantity(
        cart_pb2.UpdateQuantityRequest(shopper_id="anon-1", book_id="moby-dick", quantity=3)
    )

    assert [(i.book_id, i.quantity) for i in cart.items] == [("moby-dick", 3)]
    assert cart.shopper_id == "anon-1"
    assert not (await stub.EmptyCart(cart_pb2.EmptyCartRequest(shopper_id="anon-1"))).items


@pytest.mark.parametrize(
    ("request_message", "field"),
    [
        (cart_pb2.AddItemRequest(shopper_id="", book_id="moby-dick", quantity=1), "shopper_id"),
        (cart_pb2.AddItemRequest(shopper_id="a b", book_id="moby-dick", quantity=1), "shopper_id"),
        (cart_pb2.AddItemRequest(shopper_id="anon-1", book_id="Moby Dick!", quantity=1), "book_id"),
        (cart_pb2.AddItemRequest(shopper_id="anon-1", book_id="moby-dick", quantity=0), "quantity"),
        (cart_pb2.AddItemRequest(shopper_id="anon-1", book_id="moby-dick", quantity=-3), "quantity"),
        (cart_pb2.AddItemRequest(shopper_id="anon-1\x00", book_id="moby-dick", quantity=1), "shopper_id"),
        (cart_pb2.AddItemRequest(shopper_id="anon-1", book_id="moby-dick\n", quantity=1), "book_id"),
    ],
)
async def test_bad_input_names_the_field(
    stub: cart_pb2_grpc.CartServiceStub, request_message: cart_pb2.AddItemRequest, field: str
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.AddItem(request_message)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field_violations(caught.value)[0][0] == field


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda stub: stub.GetCart(cart_pb2.GetCartRequest()), "shopper_id"),
        (lambda stub: stub.GetCart(cart_pb2.GetCartRequest(shopper_id="x" * 129)), "shopper_id"),
        (
            lambda stub: stub.RemoveItem(cart_pb2.RemoveItemRequest(shopper_id="anon-1", book_id="")),
            "book_id",
        ),
        (
            lambda stub: stub.AddItem(
                cart_pb2.AddItemRequest(shopper_id="anon-1", book_id="a" * 161, quantity=1)
            ),
            "book_id",
        ),
        (lambda stub: stub.EmptyCart(cart_pb2.EmptyCartRequest(shopper_id="anon/1")), "shopper_id"),
    ],
)
async def test_every_rpc_checks_its_fields(
    stub: cart_pb2_grpc.CartServiceStub,
    call: Callable[[cart_pb2_grpc.CartServiceStub], Awaitable[cart_pb2.Cart]],
    field: str,
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call(stub)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field_violations(caught.value)[0][0] == field


async def test_longest_ids_are_accepted(stub: cart_pb2_grpc.CartServiceStub) -> None:
    shopper, book = "anon-" + "A.b_c:d-" * 15 + "xyz", "a" * 160
    assert len(shopper) == 128
    cart = await stub.AddItem(cart_pb2.AddItemRequest(shopper_id=shopper, book_id=book, quantity=1))
    assert [(i.book_id, i.quantity) for i in cart.items] == [(book, 1)]


async def test_update_to_zero_points_to_remove_item(stub: cart_pb2_grpc.CartServiceStub) -> None:
    await stub.AddItem(cart_pb2.AddItemRequest(shopper_id="anon-1", book_id="moby-dick", quantity=1))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.UpdateQuantity(
            cart_pb2.UpdateQuantityRequest(shopper_id="anon-1", book_id="moby-dick", quantity=0)
        )
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    [(field, description)] = field_violations(caught.value)
    assert field == "quantity"
    assert "at least 1" in description
    assert "RemoveItem" in description
    cart = await stub.GetCart(cart_pb2.GetCartRequest(shopper_id="anon-1"))
    assert [(i.book_id, i.quantity) for i in cart.items] == [("moby-dick", 1)]


async def test_too_many_books_is_a_failed_precondition(stub: cart_pb2_grpc.CartServiceStub) -> None:
    for n in range(50):
        await stub.AddItem(cart_pb2.AddItemRequest(shopper_id="anon-1", book_id=f"book-{n}", quantity=1))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.AddItem(cart_pb2.AddItemRequest(shopper_id="anon-1", book_id="book-50", quantity=1))
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "50" in (caught.value.details() or "")


async def test_too_many_copies_is_a_failed_precondition(stub: cart_pb2_grpc.CartServiceStub) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.AddItem(cart_pb2.AddItemRequest(shopper_id="anon-1", book_id="moby-dick", quantity=100))
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "at most 99 copies of one book" in (caught.value.details() or "")


async def test_redis_down_gives_unavailable_naming_the_store_quickly(issuer: TestIssuer) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    store = RedisCartStore(f"redis://127.0.0.1:{closed}/0", Limits(), ttl_seconds=60, timeout=0.5)
    server = await _serve(store, issuer)
    channel = issuer.channel(server.port, issuer.service_token("folio-storefront"))
    try:
        started = time.monotonic()
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await cart_pb2_grpc.CartServiceStub(channel).GetCart(
                cart_pb2.GetCartRequest(shopper_id="anon-1"), timeout=5
            )
        assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
        assert "cart store" in (caught.value.details() or "")
        assert time.monotonic() - started < 3
    finally:
        await channel.close()
        await server.stop()
        await store.close()


@pytest.fixture
async def cart_server(tmp_path: Path, issuer: TestIssuer) -> AsyncIterator[GrpcServer]:
    with Database.open(f"sqlite:///{tmp_path / 'cart.db'}", MIGRATIONS) as database:
        server = await _serve(SqliteCartStore(database, Limits()), issuer)
        yield server
        await server.stop()


async def _get(issuer: TestIssuer, server: GrpcServer, token: str | None, shopper: str) -> grpc.StatusCode:
    async with issuer.channel(server.port, token) as channel:
        try:
            await cart_pb2_grpc.CartServiceStub(channel).GetCart(cart_pb2.GetCartRequest(shopper_id=shopper))
        except grpc.aio.AioRpcError as error:
            return error.code()
    return grpc.StatusCode.OK


async def test_a_person_reaches_only_their_own_cart(cart_server: GrpcServer, issuer: TestIssuer) -> None:
    alice = issuer.token("alice-id")
    assert await _get(issuer, cart_server, alice, "alice-id") == grpc.StatusCode.OK
    assert await _get(issuer, cart_server, alice, "bob-id") == grpc.StatusCode.PERMISSION_DENIED
    assert await _get(issuer, cart_server, alice, "anon-123") == grpc.StatusCode.PERMISSION_DENIED


async def test_services_reach_only_the_carts_they_serve(cart_server: GrpcServer, issuer: TestIssuer) -> None:
    storefront = issuer.service_token("folio-storefront")
    assert await _get(issuer, cart_server, storefront, "anon-123") == grpc.StatusCode.OK
    # The storefront acts for signed-in people with their own token, never as itself.
    assert await _get(issuer, cart_server, storefront, "alice-id") == grpc.StatusCode.PERMISSION_DENIED
    assert (
        await _get(issuer, cart_server, issuer.service_token("folio-orders"), "alice-id")
        == grpc.StatusCode.OK
    )
    payment = issuer.service_token("folio-payment")
    assert await _get(issuer, cart_server, payment, "anon-123") == grpc.StatusCode.PERMISSION_DENIED


@pytest.mark.parametrize("kind", FORGED_KINDS)
async def test_forged_tokens_are_unauthenticated(
    cart_server: GrpcServer, issuer: TestIssuer, kind: str
) -> None:
    forged = forged_tokens(issuer)[kind]
    assert await _get(issuer, cart_server, forged, "alice-id") == grpc.StatusCode.UNAUTHENTICATED
    assert await _get(issuer, cart_server, None, "anon-1") == grpc.StatusCode.UNAUTHENTICATED


def test_a_book_id_must_match_whole() -> None:
    with pytest.raises(InvalidArgument):
        _book("moby-dick\n")
