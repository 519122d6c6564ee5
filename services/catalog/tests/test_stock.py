"""Stock reservations: all or nothing, idempotent by reservation id, never oversold.

The fixture catalog (conftest.py) holds 12 copies of Moby-Dick at $12.99 and 5 of every other book.
"""

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import grpc
import pytest
from sqlalchemy import update

from folio.catalog.v1 import catalog_pb2, catalog_pb2_grpc
from folio_catalog.repository import SqlCatalogRepository
from folio_catalog.tables import books
from folio_platform.database import create_engine_for
from folio_platform.errors import FailedPrecondition, NotFound, field_violations
from folio_testing.issuer import TestIssuer

from .conftest import StartCatalog

TIMEOUT = 30.0


async def _stock(repository: SqlCatalogRepository, book_id: str) -> int:
    book = await repository.get_book(book_id)
    assert book is not None
    return book.stock


# --- the repository, on SQLite and PostgreSQL ------------------------------------------------


async def test_reserve_holds_copies_at_the_catalog_price(writable_repository: SqlCatalogRepository) -> None:
    reservation = await writable_repository.reserve("order-1", [("moby-dick", 2)])

    assert reservation.state == "held"
    [line] = reservation.lines
    assert (line.book_id, line.title, line.quantity) == ("moby-dick", "Moby-Dick", 2)
    assert (line.unit_price_minor, line.currency_code) == (1299, "USD")
    assert await _stock(writable_repository, "moby-dick") == 10


async def test_the_price_is_the_one_at_reservation_time(
    writable_repository: SqlCatalogRepository, writable_database_url: str
) -> None:
    await writable_repository.reserve("order-1", [("moby-dick", 1)])
    engine = create_engine_for(writable_database_url)
    try:
        with engine.begin() as connection:
            connection.execute(
                update(books).where(books.c.id == "moby-dick").values(price_minor=2500, title="Moby Dick")
            )
    finally:
        engine.dispose()

    for reservation in (
        await writable_repository.reserve("order-1", [("moby-dick", 1)]),
        await writable_repository.commit("order-1"),
    ):
        [line] = reservation.lines
        assert (line.title, line.unit_price_minor) == ("Moby-Dick", 1299)
    later = await writable_repository.reserve("order-2", [("moby-dick", 1)])
    assert later.lines[0].unit_price_minor == 2500


async def test_reserve_is_idempotent_by_reservation_id(writable_repository: SqlCatalogRepository) -> None:
    first = await writable_repository.reserve("order-2", [("typee", 1), ("leviathan", 2)])
    again = await writable_repository.reserve("order-2", [("leviathan", 2), ("typee", 1)])

    assert again == first
    assert await _stock(writable_repository, "typee") == 4
    assert await _stock(writable_repository, "leviathan") == 3
    for other in ([("typee", 1)], [("typee", 2), ("leviathan", 2)], [("jane-eyre", 1)]):
        with pytest.raises(FailedPrecondition, match="reservation id 'order-2' already used for other books"):
            await writable_repository.reserve("order-2", other)
    assert await _stock(writable_repository, "typee") == 4


async def test_the_same_book_twice_is_one_line(writable_repository: SqlCatalogRepository) -> None:
    reservation = await writable_repository.reserve("order-2", [("typee", 1), ("typee", 2)])

    assert [(line.book_id, line.quantity) for line in reservation.lines] == [("typee", 3)]
    assert await _stock(writable_repository, "typee") == 2


async def test_reserve_is_all_or_nothing(writable_repository: SqlCatalogRepository) -> None:
    # Lines are taken in book-id order: "a-study-in-scarlet" is decremented before "typee" is found short.
    with pytest.raises(FailedPrecondition, match=r"^only 5 copies of 'Typee' left$"):
        await writable_repository.reserve("order-3", [("a-study-in-scarlet", 1), ("typee", 6)])
    with pytest.raises(NotFound, match="zz-no-such-book"):
        await writable_repository.reserve("order-3", [("a-study-in-scarlet", 1), ("zz-no-such-book", 1)])

    assert await _stock(writable_repository, "a-study-in-scarlet") == 5
    assert await _stock(writable_repository, "typee") == 5
    # The failed attempts left no reservation behind: the id is still free.
    assert (await writable_repository.reserve("order-3", [("typee", 5)])).state == "held"
    with pytest.raises(FailedPrecondition, match=r"^only 0 copies of 'Typee' left$"):
        await writable_repository.reserve("order-4", [("typee", 1)])
    await writable_repository.reserve("order-5", [("leviathan", 4)])
    with pytest.raises(FailedPrecondition, match=r"^only 1 copy of 'Leviathan' left$"):
        await writable_repository.reserve("order-6", [("leviathan", 2)])


async def test_release_puts_copies_back_once(writable_repository: SqlCatalogRepository) -> None:
    await writable_repository.reserve("order-5", [("typee", 3)])

    released = await writable_repository.release("order-5")
    assert (released.state, [line.quantity for line in released.lines]) == ("released", [3])
    assert (await writable_repository.release("order-5")).state == "released"
    assert await _stock(writable_repository, "typee") == 5
    with pytest.raises(FailedPrecondition, match="was released"):
        await writable_repository.commit("order-5")
    assert (await writable_repository.reserve("order-5", [("typee", 3)])).state == "released"
    assert await _stock(writable_repository, "typee") == 5


async def test_a_reserve_after_its_release_holds_nothing(writable_repository: SqlCatalogRepository) -> None:
    # Checkout timed out on ReserveStock and compensated; the reserve then arrives late.
    assert (await writable_repository.release("order-7")).state == "released"

    with pytest.raises(FailedPrecondition, match="released before it held anything"):
        await writable_repository.reserve("order-7", [("typee", 1)])
    assert await _stock(writable_repository, "typee") == 5


async def test_commit_is_final(writable_repository: SqlCatalogRepository) -> None:
    await writable_repository.reserve("order-6", [("typee", 1)])

    assert (await writable_repository.commit("order-6")).state == "committed"
    assert (await writable_repository.commit("order-6")).state == "committed"
    with pytest.raises(FailedPrecondition, match="already committed"):
        await writable_repository.release("order-6")
    assert await _stock(writable_repository, "typee") == 4
    with pytest.raises(NotFound, match="never-reserved"):
        await writable_repository.commit("never-reserved")


async def _race_for_five_copies(
    reserve: Callable[[str], Awaitable[bool]], repository: SqlCatalogRepository
) -> list[bool]:
    """50 reservations of 1 copy each against 5 copies of Typee, watching the stock meanwhile."""
    seen: list[int] = []
    done = asyncio.Event()

    async def watch() -> None:
        while not done.is_set():
            seen.append(await _stock(repository, "typee"))
            await asyncio.sleep(0)

    watcher = asyncio.create_task(watch())
    try:
        won = await asyncio.gather(*(reserve(f"racer-{n}") for n in range(50)))
    finally:
        done.set()
        await watcher
    assert seen
    assert min(seen) >= 0
    assert await _stock(repository, "typee") == 0
    return won


async def test_fifty_reservations_race_for_five_copies(writable_repository: SqlCatalogRepository) -> None:
    async def reserve(reservation_id: str) -> bool:
        try:
            await writable_repository.reserve(reservation_id, [("typee", 1)])
        except FailedPrecondition:
            return False
        return True

    won = await _race_for_five_copies(reserve, writable_repository)

    assert sum(won) == 5


# --- through gRPC, on SQLite ----------------------------------------------------------------


@pytest.fixture
async def stub(
    sqlite_repository: SqlCatalogRepository, issuer: TestIssuer, start_catalog: StartCatalog
) -> AsyncIterator[catalog_pb2_grpc.CatalogServiceStub]:
    """The catalog as orders' service account sees it (the only caller allowed to hold stock)."""
    server = await start_catalog(sqlite_repository)
    async with issuer.channel(server.port, issuer.service_token("folio-orders")) as channel:
        yield catalog_pb2_grpc.CatalogServiceStub(channel)


def _reserve_request(reservation_id: str, *lines: tuple[str, int]) -> catalog_pb2.ReserveStockRequest:
    return catalog_pb2.ReserveStockRequest(
        reservation_id=reservation_id,
        lines=[catalog_pb2.StockRequestLine(book_id=book_id, quantity=q) for book_id, q in lines],
    )


async def _error(call: object) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call  # type: ignore[misc]
    return caught.value


async def test_the_race_through_grpc(
    stub: catalog_pb2_grpc.CatalogServiceStub, sqlite_repository: SqlCatalogRepository
) -> None:
    codes: list[grpc.StatusCode] = []

    async def reserve(reservation_id: str) -> bool:
        try:
            await stub.ReserveStock(_reserve_request(reservation_id, ("typee", 1)), timeout=TIMEOUT)
        except grpc.aio.AioRpcError as error:
            codes.append(error.code())
            return False
        codes.append(grpc.StatusCode.OK)
        return True

    await _race_for_five_copies(reserve, sqlite_repository)

    assert codes.count(grpc.StatusCode.OK) == 5
    assert codes.count(grpc.StatusCode.FAILED_PRECONDITION) == 45


async def test_a_checkout_through_grpc(stub: catalog_pb2_grpc.CatalogServiceStub) -> None:
    held = await stub.ReserveStock(
        _reserve_request("order-1", ("moby-dick", 1), ("typee", 2), ("moby-dick", 2)), timeout=TIMEOUT
    )

    assert (held.reservation_id, held.state) == ("order-1", catalog_pb2.RESERVATION_STATE_HELD)
    assert [(line.book_id, line.title, line.quantity) for line in held.lines] == [
        ("moby-dick", "Moby-Dick", 3),
        ("typee", "Typee", 2),
    ]
    assert (held.lines[0].unit_price.currency_code, held.lines[0].unit_price.minor_units) == ("USD", 1299)
    book = await stub.GetBook(catalog_pb2.GetBookRequest(id="moby-dick"), timeout=TIMEOUT)
    assert book.stock == 9

    committed = await stub.CommitStock(
        catalog_pb2.CommitStockRequest(reservation_id="order-1"), timeout=TIMEOUT
    )
    assert committed.state == catalog_pb2.RESERVATION_STATE_COMMITTED
    assert list(committed.lines) == list(held.lines)
    refused = await _error(
        stub.ReleaseStock(catalog_pb2.ReleaseStockRequest(reservation_id="order-1"), timeout=TIMEOUT)
    )
    assert refused.code() == grpc.StatusCode.FAILED_PRECONDITION


async def test_refusals_through_grpc(stub: catalog_pb2_grpc.CatalogServiceStub) -> None:
    short = await _error(stub.ReserveStock(_reserve_request("order-1", ("typee", 6)), timeout=TIMEOUT))
    assert (short.code(), short.details()) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "only 5 copies of 'Typee' left",
    )
    unknown = await _error(
        stub.ReserveStock(_reserve_request("order-1", ("no-such-book", 1)), timeout=TIMEOUT)
    )
    assert unknown.code() == grpc.StatusCode.NOT_FOUND
    assert "no-such-book" in (unknown.details() or "")

    released = await stub.ReleaseStock(
        catalog_pb2.ReleaseStockRequest(reservation_id="order-2"), timeout=TIMEOUT
    )
    assert (released.state, list(released.lines)) == (catalog_pb2.RESERVATION_STATE_RELEASED, [])
    not_held = await _error(
        stub.CommitStock(catalog_pb2.CommitStockRequest(reservation_id="order-2"), timeout=TIMEOUT)
    )
    assert not_held.code() == grpc.StatusCode.FAILED_PRECONDITION


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        (_reserve_request("", ("typee", 1)), "reservation_id"),
        (_reserve_request("x" * 101, ("typee", 1)), "reservation_id"),
        (_reserve_request("order 1", ("typee", 1)), "reservation_id"),
        (_reserve_request("order-1"), "lines"),
        (_reserve_request("order-1", *[(f"book-{n}", 1) for n in range(51)]), "lines"),
        (_reserve_request("order-1", ("typee", 0)), "lines.quantity"),
        (_reserve_request("order-1", ("typee", 100)), "lines.quantity"),
        (_reserve_request("order-1", ("typee", -1)), "lines.quantity"),
        (_reserve_request("order-1", ("Moby Dick", 1)), "lines.book_id"),
        (_reserve_request("order-1", ("", 1)), "lines.book_id"),
    ],
)
async def test_bad_reservations_name_the_field(
    stub: catalog_pb2_grpc.CatalogServiceStub, request_: catalog_pb2.ReserveStockRequest, field: str
) -> None:
    error = await _error(stub.ReserveStock(request_, timeout=TIMEOUT))

    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert [name for name, _ in field_violations(error)] == [field]


async def test_release_and_commit_check_the_reservation_id(stub: catalog_pb2_grpc.CatalogServiceStub) -> None:
    for call in (
        stub.ReleaseStock(catalog_pb2.ReleaseStockRequest(reservation_id=""), timeout=TIMEOUT),
        stub.CommitStock(catalog_pb2.CommitStockRequest(reservation_id="a/b"), timeout=TIMEOUT),
    ):
        error = await _error(call)
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert [name for name, _ in field_violations(error)] == ["reservation_id"]


@pytest.mark.parametrize(
    ("caller", "code"),
    [
        (None, grpc.StatusCode.UNAUTHENTICATED),
        ("customer", grpc.StatusCode.PERMISSION_DENIED),
        ("storefront", grpc.StatusCode.PERMISSION_DENIED),
    ],
)
async def test_only_orders_may_hold_stock(
    sqlite_repository: SqlCatalogRepository,
    issuer: TestIssuer,
    start_catalog: StartCatalog,
    caller: str | None,
    code: grpc.StatusCode,
) -> None:
    server = await start_catalog(sqlite_repository)
    token = {None: None, "customer": issuer.token(), "storefront": issuer.service_token("folio-storefront")}
    async with issuer.channel(server.port, token[caller]) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await catalog_pb2_grpc.CatalogServiceStub(channel).ReserveStock(
                _reserve_request("r-1", ("typee", 1))
            )
    assert refused.value.code() == code
