"""Stock reservations: all or nothing, idempotent by reservation id, never oversold."""

import asyncio

import grpc
import pytest

from folio.catalog.v1 import catalog_pb2, catalog_pb2_grpc
from folio_catalog.repository import SqlCatalogRepository
from folio_catalog.servicer import CatalogServicer
from folio_platform.errors import FailedPrecondition, NotFound, field_violations
from folio_platform.grpc_server import GrpcServer
from folio_platform.telemetry import Telemetry


async def _stocked(repository: SqlCatalogRepository, minimum: int) -> tuple[str, int]:
    page = await repository.list_books(offset=0, limit=100)
    book = next(b for b in page.items if b.stock >= minimum)
    return book.id, book.stock


async def _stock(repository: SqlCatalogRepository, book_id: str) -> int:
    book = await repository.get_book(book_id)
    assert book is not None
    return book.stock


async def test_reserve_holds_copies_at_the_catalog_price(writable_repository: SqlCatalogRepository) -> None:
    book_id, stock = await _stocked(writable_repository, 2)
    book = await writable_repository.get_book(book_id)
    assert book is not None

    reservation = await writable_repository.reserve("order-1", [(book_id, 2)])

    assert reservation.state == "held"
    [line] = reservation.lines
    assert (line.book_id, line.quantity, line.title) == (book_id, 2, book.title)
    assert (line.unit_price_minor, line.currency_code) == (book.price_minor, book.currency_code)
    assert await _stock(writable_repository, book_id) == stock - 2


async def test_reserve_is_idempotent_by_reservation_id(writable_repository: SqlCatalogRepository) -> None:
    book_id, stock = await _stocked(writable_repository, 1)
    first = await writable_repository.reserve("order-2", [(book_id, 1)])
    again = await writable_repository.reserve("order-2", [(book_id, 1)])

    assert again == first
    assert await _stock(writable_repository, book_id) == stock - 1
    with pytest.raises(FailedPrecondition, match="already holds other books"):
        await writable_repository.reserve("order-2", [(book_id, 2)])


async def test_reserve_is_all_or_nothing(writable_repository: SqlCatalogRepository) -> None:
    page = await writable_repository.list_books(offset=0, limit=100)
    plenty = next(b for b in page.items if b.stock >= 1)
    short = next(b for b in page.items if b.id != plenty.id)

    with pytest.raises(FailedPrecondition, match=f"only {short.stock} cop"):
        await writable_repository.reserve("order-3", [(plenty.id, 1), (short.id, short.stock + 1)])

    assert await _stock(writable_repository, plenty.id) == plenty.stock
    assert await _stock(writable_repository, short.id) == short.stock
    # The failed attempt left no reservation behind: the id can be used again.
    assert (await writable_repository.reserve("order-3", [(plenty.id, 1)])).state == "held"


async def test_unknown_book_is_not_found(writable_repository: SqlCatalogRepository) -> None:
    with pytest.raises(NotFound, match="no-such-book"):
        await writable_repository.reserve("order-4", [("no-such-book", 1)])


async def test_release_puts_copies_back_once(writable_repository: SqlCatalogRepository) -> None:
    book_id, stock = await _stocked(writable_repository, 3)
    await writable_repository.reserve("order-5", [(book_id, 3)])

    assert (await writable_repository.release("order-5")).state == "released"
    assert (await writable_repository.release("order-5")).state == "released"
    assert await _stock(writable_repository, book_id) == stock
    assert (await writable_repository.release("never-reserved")).state == "released"
    with pytest.raises(FailedPrecondition, match="released"):
        await writable_repository.commit("order-5")


async def test_commit_is_final(writable_repository: SqlCatalogRepository) -> None:
    book_id, stock = await _stocked(writable_repository, 1)
    await writable_repository.reserve("order-6", [(book_id, 1)])

    assert (await writable_repository.commit("order-6")).state == "committed"
    assert (await writable_repository.commit("order-6")).state == "committed"
    with pytest.raises(FailedPrecondition, match="committed"):
        await writable_repository.release("order-6")
    assert await _stock(writable_repository, book_id) == stock - 1
    with pytest.raises(NotFound):
        await writable_repository.commit("never-reserved")


async def test_fifty_reservations_race_for_five_copies(writable_repository: SqlCatalogRepository) -> None:
    book_id, stock = await _stocked(writable_repository, 5)
    if stock > 5:
        await writable_repository.reserve("buy-down", [(book_id, stock - 5)])

    async def attempt(n: int) -> bool:
        try:
            await writable_repository.reserve(f"racer-{n}", [(book_id, 1)])
        except FailedPrecondition:
            return False
        return True

    won = await asyncio.gather(*(attempt(n) for n in range(50)))

    assert sum(won) == 5
    assert await _stock(writable_repository, book_id) == 0


async def test_the_race_through_grpc(sqlite_repository: SqlCatalogRepository) -> None:
    servicer = CatalogServicer(sqlite_repository)
    server = GrpcServer(
        register=lambda s: catalog_pb2_grpc.add_CatalogServiceServicer_to_server(servicer, s),
        service_names=["folio.catalog.v1.CatalogService"],
        address="127.0.0.1:0",
        telemetry=Telemetry(enabled=False),
    )
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            stub = catalog_pb2_grpc.CatalogServiceStub(channel)
            book_id, stock = await _stocked(sqlite_repository, 5)
            if stock > 5:
                line = catalog_pb2.StockRequestLine(book_id=book_id, quantity=stock - 5)
                await stub.ReserveStock(
                    catalog_pb2.ReserveStockRequest(reservation_id="buy-down", lines=[line])
                )

            async def attempt(n: int) -> grpc.StatusCode:
                line = catalog_pb2.StockRequestLine(book_id=book_id, quantity=1)
                try:
                    await stub.ReserveStock(
                        catalog_pb2.ReserveStockRequest(reservation_id=f"racer-{n}", lines=[line]), timeout=30
                    )
                except grpc.aio.AioRpcError as error:
                    return error.code()
                return grpc.StatusCode.OK

            codes = await asyncio.gather(*(attempt(n) for n in range(50)))
            assert codes.count(grpc.StatusCode.OK) == 5
            assert codes.count(grpc.StatusCode.FAILED_PRECONDITION) == 45
            assert await _stock(sqlite_repository, book_id) == 0

            with pytest.raises(grpc.aio.AioRpcError) as bad:
                await stub.ReserveStock(
                    catalog_pb2.ReserveStockRequest(
                        reservation_id="x", lines=[catalog_pb2.StockRequestLine(book_id=book_id, quantity=0)]
                    )
                )
            assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert field_violations(bad.value)[0][0] == "lines.quantity"
    finally:
        await server.stop()
