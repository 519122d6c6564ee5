"""CatalogService through a real in-process gRPC server, as a client sees it."""

import asyncio
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from folio.catalog.v1 import catalog_pb2, catalog_pb2_grpc
from folio_catalog.repository import SqlCatalogRepository
from folio_catalog.seed import SeedCatalog
from folio_catalog.servicer import ACCESS, CatalogServicer, _check_id
from folio_platform import pagination
from folio_platform.errors import InvalidArgument, field_violations
from folio_platform.grpc_server import GrpcServer
from folio_platform.telemetry import Telemetry
from folio_testing.issuer import TestIssuer

SERVICE = "folio.catalog.v1.CatalogService"
TIMEOUT = 10.0


@dataclass
class Running:
    server: GrpcServer
    channel: grpc.aio.Channel
    stub: catalog_pb2_grpc.CatalogServiceStub


@pytest.fixture
async def running(sqlite_repository: SqlCatalogRepository, issuer: TestIssuer) -> AsyncIterator[Running]:
    """The catalog as anyone sees it: reads need no token."""
    servicer = CatalogServicer(sqlite_repository)
    server = GrpcServer(
        register=lambda s: catalog_pb2_grpc.add_CatalogServiceServicer_to_server(servicer, s),
        service_names=[SERVICE],
        address="127.0.0.1:0",
        telemetry=Telemetry(enabled=False),
        auth=issuer.server_auth(ACCESS),
        grace_seconds=0.2,
    )
    await server.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{server.port}")
    try:
        yield Running(server, channel, catalog_pb2_grpc.CatalogServiceStub(channel))
    finally:
        await channel.close()
        await server.server.stop(None)


@pytest.fixture
def stub(running: Running) -> catalog_pb2_grpc.CatalogServiceStub:
    return running.stub


async def _invalid(call: object) -> list[tuple[str, str]]:
    """Await a call that must fail with INVALID_ARGUMENT; return its field violations."""
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call  # type: ignore[misc]
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT, caught.value.details()
    return field_violations(caught.value)


def _fields(violations: list[tuple[str, str]]) -> list[str]:
    return [field for field, _ in violations]


# --- reading -------------------------------------------------------------------------------


async def test_get_book_maps_every_field(
    stub: catalog_pb2_grpc.CatalogServiceStub, fixture_catalog: SeedCatalog
) -> None:
    book = await stub.GetBook(catalog_pb2.GetBookRequest(id="moby-dick"), timeout=TIMEOUT)
    expected = next(b for b in fixture_catalog.books if b.id == "moby-dick")
    assert book.title == "Moby-Dick"
    assert (book.author.id, book.author.name) == ("herman-melville", "Herman Melville")
    assert book.year == 1851
    assert book.language == "en"
    assert [(g.id, g.name) for g in book.genres] == list(expected.genres)
    assert book.description == expected.description
    assert (book.price.currency_code, book.price.minor_units) == ("USD", 1299)
    assert book.stock == 12
    assert book.featured


async def test_batch_get_answers_the_books_found_in_the_order_asked_each_once(
    stub: catalog_pb2_grpc.CatalogServiceStub, fixture_catalog: SeedCatalog
) -> None:
    other = next(b.id for b in fixture_catalog.books if b.id > "moby-dick")  # after it by id
    ids = [other, "no-such-book", "moby-dick", other]
    found = await stub.BatchGetBooks(catalog_pb2.BatchGetBooksRequest(ids=ids), timeout=TIMEOUT)
    assert [b.id for b in found.books] == [other, "moby-dick"]
    alone = await stub.GetBook(catalog_pb2.GetBookRequest(id="moby-dick"), timeout=TIMEOUT)
    assert found.books[1] == alone  # every field, as GetBook gives it


async def test_batch_get_refuses_no_ids_too_many_or_a_bad_one(
    stub: catalog_pb2_grpc.CatalogServiceStub,
) -> None:
    for ids in ([], ["moby-dick"] * 101, ["moby-dick", "Moby Dick!"]):
        violations = await _invalid(
            stub.BatchGetBooks(catalog_pb2.BatchGetBooksRequest(ids=ids), timeout=TIMEOUT)
        )
        assert _fields(violations) == ["ids"], ids
    many = await _invalid(
        stub.BatchGetBooks(catalog_pb2.BatchGetBooksRequest(ids=["moby-dick"] * 101), timeout=TIMEOUT)
    )
    assert "at most 100" in many[0][1]


async def test_get_author_counts_books(stub: catalog_pb2_grpc.CatalogServiceStub) -> None:
    author = await stub.GetAuthor(catalog_pb2.GetAuthorRequest(id="jules-verne"), timeout=TIMEOUT)
    assert (author.name, author.born, author.died, author.book_count) == ("Jules Verne", 1828, 1905, 2)
    assert author.nationality == "French"


async def test_list_genres(stub: catalog_pb2_grpc.CatalogServiceStub, fixture_catalog: SeedCatalog) -> None:
    response = await stub.ListGenres(catalog_pb2.ListGenresRequest(), timeout=TIMEOUT)
    assert {g.id for g in response.genres} == {g.id for g in fixture_catalog.genres}
    counts = {g.id: g.book_count for g in response.genres}
    assert counts["adventure"] == 4
    assert counts["poetry"] == 0


@pytest.mark.parametrize(
    ("request_", "expected"),
    [
        (catalog_pb2.ListBooksRequest(genre_id="crime-mystery"), 2),
        (catalog_pb2.ListBooksRequest(author_id="herman-melville"), 2),
        (catalog_pb2.ListBooksRequest(featured_only=True), 3),
        (catalog_pb2.ListBooksRequest(author_id="emily-dickinson"), 0),
        (catalog_pb2.ListBooksRequest(author_id="no-such-author"), 0),
    ],
)
async def test_list_books_filters(
    stub: catalog_pb2_grpc.CatalogServiceStub, request_: catalog_pb2.ListBooksRequest, expected: int
) -> None:
    response = await stub.ListBooks(request_, timeout=TIMEOUT)
    assert response.total_size == expected
    assert len(response.books) == expected
    assert response.next_page_token == ""


async def test_list_books_default_page_and_order(
    stub: catalog_pb2_grpc.CatalogServiceStub, fixture_catalog: SeedCatalog
) -> None:
    response = await stub.ListBooks(catalog_pb2.ListBooksRequest(), timeout=TIMEOUT)
    assert [b.id for b in response.books] == [
        b.id for b in sorted(fixture_catalog.books, key=lambda b: (b.title, b.id))
    ]
    newest = await stub.ListBooks(
        catalog_pb2.ListBooksRequest(order=catalog_pb2.BOOK_ORDER_YEAR_DESC, page_size=1), timeout=TIMEOUT
    )
    assert [b.id for b in newest.books] == ["the-voyage-out"]


async def test_search_books(stub: catalog_pb2_grpc.CatalogServiceStub) -> None:
    response = await stub.SearchBooks(catalog_pb2.SearchBooksRequest(query="  voyage  "), timeout=TIMEOUT)
    assert response.books[0].id == "the-voyage-out"
    assert response.total_size == 3
    in_genre = await stub.SearchBooks(
        catalog_pb2.SearchBooksRequest(query="voyage", genre_id="science-fiction"), timeout=TIMEOUT
    )
    assert [b.id for b in in_genre.books] == ["twenty-thousand-leagues-under-the-seas"]


async def test_search_of_only_punctuation_finds_nothing(stub: catalog_pb2_grpc.CatalogServiceStub) -> None:
    response = await stub.SearchBooks(catalog_pb2.SearchBooksRequest(query="?!"), timeout=TIMEOUT)
    assert list(response.books) == []
    assert response.total_size == 0


# --- paging --------------------------------------------------------------------------------


@pytest.mark.parametrize("page_size", [1, 2, 4, 100])
async def test_paging_through_list_books_returns_every_book_once(
    stub: catalog_pb2_grpc.CatalogServiceStub, fixture_catalog: SeedCatalog, page_size: int
) -> None:
    seen: list[str] = []
    token = ""
    for _ in range(len(fixture_catalog.books) + 1):
        response = await stub.ListBooks(
            catalog_pb2.ListBooksRequest(page_size=page_size, page_token=token), timeout=TIMEOUT
        )
        assert response.total_size == len(fixture_catalog.books)
        assert len(response.books) <= page_size
        seen += [b.id for b in response.books]
        token = response.next_page_token
        if not token:
            break
    assert sorted(seen) == sorted(b.id for b in fixture_catalog.books)
    assert len(seen) == len(set(seen))


async def test_paging_through_a_filtered_list(stub: catalog_pb2_grpc.CatalogServiceStub) -> None:
    request = catalog_pb2.ListBooksRequest(
        genre_id="adventure", order=catalog_pb2.BOOK_ORDER_YEAR, page_size=3
    )
    first = await stub.ListBooks(request, timeout=TIMEOUT)
    assert first.next_page_token
    request.page_token = first.next_page_token
    second = await stub.ListBooks(request, timeout=TIMEOUT)
    assert second.next_page_token == ""
    assert [b.id for b in [*first.books, *second.books]] == [
        "typee",
        "moby-dick",
        "journey-to-the-centre-of-the-earth",
        "twenty-thousand-leagues-under-the-seas",
    ]


async def test_paging_through_search_results(stub: catalog_pb2_grpc.CatalogServiceStub) -> None:
    everything = await stub.SearchBooks(catalog_pb2.SearchBooksRequest(query="voyage"), timeout=TIMEOUT)
    first = await stub.SearchBooks(
        catalog_pb2.SearchBooksRequest(query="voyage", page_size=2), timeout=TIMEOUT
    )
    rest = await stub.SearchBooks(
        catalog_pb2.SearchBooksRequest(query="voyage", page_size=2, page_token=first.next_page_token),
        timeout=TIMEOUT,
    )
    assert rest.next_page_token == ""
    assert [b.id for b in [*first.books, *rest.books]] == [b.id for b in everything.books]


async def test_paging_through_authors(
    stub: catalog_pb2_grpc.CatalogServiceStub, fixture_catalog: SeedCatalog
) -> None:
    names: list[str] = []
    token = ""
    while True:
        response = await stub.ListAuthors(
            catalog_pb2.ListAuthorsRequest(page_size=2, page_token=token), timeout=TIMEOUT
        )
        assert response.total_size == len(fixture_catalog.authors)
        names += [a.name for a in response.authors]
        token = response.next_page_token
        if not token:
            break
    assert names == sorted(a.name for a in fixture_catalog.authors)


# --- errors --------------------------------------------------------------------------------


async def test_unknown_book_is_not_found(stub: catalog_pb2_grpc.CatalogServiceStub) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.GetBook(catalog_pb2.GetBookRequest(id="no-such-book"), timeout=TIMEOUT)
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    assert "no-such-book" in (caught.value.details() or "")


async def test_unknown_author_is_not_found(stub: catalog_pb2_grpc.CatalogServiceStub) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.GetAuthor(catalog_pb2.GetAuthorRequest(id="no-such-author"), timeout=TIMEOUT)
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    assert "no-such-author" in (caught.value.details() or "")


@pytest.mark.parametrize("page_size", [-1, 101])
async def test_page_size_out_of_range(stub: catalog_pb2_grpc.CatalogServiceStub, page_size: int) -> None:
    for call in (
        stub.ListBooks(catalog_pb2.ListBooksRequest(page_size=page_size), timeout=TIMEOUT),
        stub.SearchBooks(catalog_pb2.SearchBooksRequest(query="whale", page_size=page_size), timeout=TIMEOUT),
        stub.ListAuthors(catalog_pb2.ListAuthorsRequest(page_size=page_size), timeout=TIMEOUT),
    ):
        assert _fields(await _invalid(call)) == ["page_size"]


async def test_page_size_bounds_are_accepted(stub: catalog_pb2_grpc.CatalogServiceStub) -> None:
    for page_size in (1, 100):
        response = await stub.ListBooks(catalog_pb2.ListBooksRequest(page_size=page_size), timeout=TIMEOUT)
        assert len(response.books) == min(page_size, response.total_size)


@pytest.mark.parametrize("token", ["garbage!", "%%%", "bm90LWEtdG9rZW4", "LTE6YWJj", "NTo="])
async def test_malformed_page_token(stub: catalog_pb2_grpc.CatalogServiceStub, token: str) -> None:
    for call in (
        stub.ListBooks(catalog_pb2.ListBooksRequest(page_token=token), timeout=TIMEOUT),
        stub.SearchBooks(catalog_pb2.SearchBooksRequest(query="whale", page_token=token), timeout=TIMEOUT),
        stub.ListAuthors(catalog_pb2.ListAuthorsRequest(page_token=token), timeout=TIMEOUT),
    ):
        assert _fields(await _invalid(call)) == ["page_token"]


async def test_forged_page_token_with_a_huge_offset(stub: catalog_pb2_grpc.CatalogServiceStub) -> None:
    # Tokens are not signed; one with an offset past any int64 must be refused, not crash the query.
    token = pagination.encode(2**63, "books", "", "", False, catalog_pb2.BOOK_ORDER_UNSPECIFIED)
    listing = stub.ListBooks(catalog_pb2.ListBooksRequest(page_token=token), timeout=TIMEOUT)
    assert _fields(await _invalid(listing)) == ["page_token"]
    past_the_end = pagination.encode(1000, "books", "", "", False, catalog_pb2.BOOK_ORDER_UNSPECIFIED)
    response = await stub.ListBooks(catalog_pb2.ListBooksRequest(page_token=past_the_end), timeout=TIMEOUT)
    assert list(response.books) == []
    assert response.next_page_token == ""


async def test_page_token_reused_with_other_filters(stub: catalog_pb2_grpc.CatalogServiceStub) -> None:
    first = await stub.ListBooks(
        catalog_pb2.ListBooksRequest(genre_id="adventure", page_size=1), timeout=TIMEOUT
    )
    token = first.next_page_token
    assert token
    for other in (
        catalog_pb2.ListBooksRequest(genre_id="crime-mystery", page_size=1, page_token=token),
        catalog_pb2.ListBooksRequest(page_size=1, page_token=token),
        catalog_pb2.ListBooksRequest(genre_id="adventure", featured_only=True, page_size=1, page_token=token),
        catalog_pb2.ListBooksRequest(
            genre_id="adventure", order=catalog_pb2.BOOK_ORDER_YEAR, page_size=1, page_token=token
        ),
    ):
        assert _fields(await _invalid(stub.ListBooks(other, timeout=TIMEOUT))) == ["page_token"]
    # A token from one RPC is not valid for another.
    search = stub.SearchBooks(
        catalog_pb2.SearchBooksRequest(query="voyage", page_token=token), timeout=TIMEOUT
    )
    assert _fields(await _invalid(search)) == ["page_token"]
    # The same filters with a different page size are fine: the token is an offset.
    same = await stub.ListBooks(
        catalog_pb2.ListBooksRequest(genre_id="adventure", page_size=2, page_token=token), timeout=TIMEOUT
    )
    assert len(same.books) == 2


async def test_search_page_token_reused_with_another_query(
    stub: catalog_pb2_grpc.CatalogServiceStub,
) -> None:
    first = await stub.SearchBooks(
        catalog_pb2.SearchBooksRequest(query="voyage", page_size=1), timeout=TIMEOUT
    )
    assert first.next_page_token
    other = stub.SearchBooks(
        catalog_pb2.SearchBooksRequest(query="captain", page_size=1, page_token=first.next_page_token),
        timeout=TIMEOUT,
    )
    assert _fields(await _invalid(other)) == ["page_token"]


async def test_unknown_genre(stub: catalog_pb2_grpc.CatalogServiceStub) -> None:
    listing = stub.ListBooks(catalog_pb2.ListBooksRequest(genre_id="cookery"), timeout=TIMEOUT)
    violations = await _invalid(listing)
    assert _fields(violations) == ["genre_id"]
    assert "cookery" in violations[0][1]
    search = stub.SearchBooks(
        catalog_pb2.SearchBooksRequest(query="whale", genre_id="cookery"), timeout=TIMEOUT
    )
    assert _fields(await _invalid(search)) == ["genre_id"]


@pytest.mark.parametrize("bad_id", ["Moby Dick!", "moby_dick", "-moby", "MOBY-DICK", "x" * 161])
async def test_bad_id_format(stub: catalog_pb2_grpc.CatalogServiceStub, bad_id: str) -> None:
    assert _fields(await _invalid(stub.GetBook(catalog_pb2.GetBookRequest(id=bad_id), timeout=TIMEOUT))) == [
        "id"
    ]
    assert _fields(
        await _invalid(stub.GetAuthor(catalog_pb2.GetAuthorRequest(id=bad_id), timeout=TIMEOUT))
    ) == ["id"]
    assert _fields(
        await _invalid(stub.ListBooks(catalog_pb2.ListBooksRequest(author_id=bad_id), timeout=TIMEOUT))
    ) == ["author_id"]
    assert _fields(
        await _invalid(stub.ListBooks(catalog_pb2.ListBooksRequest(genre_id=bad_id), timeout=TIMEOUT))
    ) == ["genre_id"]


async def test_missing_id(stub: catalog_pb2_grpc.CatalogServiceStub) -> None:
    assert _fields(await _invalid(stub.GetBook(catalog_pb2.GetBookRequest(), timeout=TIMEOUT))) == ["id"]
    assert _fields(await _invalid(stub.GetAuthor(catalog_pb2.GetAuthorRequest(), timeout=TIMEOUT))) == ["id"]


@pytest.mark.parametrize("query", ["", "   ", "\t\n"])
async def test_empty_query(stub: catalog_pb2_grpc.CatalogServiceStub, query: str) -> None:
    violations = await _invalid(
        stub.SearchBooks(catalog_pb2.SearchBooksRequest(query=query), timeout=TIMEOUT)
    )
    assert _fields(violations) == ["query"]


async def test_query_length_limit(stub: catalog_pb2_grpc.CatalogServiceStub) -> None:
    too_long = "whale " * 33 + "abc"
    assert len(too_long) == 201
    violations = await _invalid(
        stub.SearchBooks(catalog_pb2.SearchBooksRequest(query=too_long), timeout=TIMEOUT)
    )
    assert _fields(violations) == ["query"]
    assert "201" in violations[0][1]
    longest = "w" * 195 + "whale"
    assert len(longest) == 200
    response = await stub.SearchBooks(catalog_pb2.SearchBooksRequest(query=longest), timeout=TIMEOUT)
    assert response.total_size == 0


async def test_unknown_order(stub: catalog_pb2_grpc.CatalogServiceStub) -> None:
    violations = await _invalid(stub.ListBooks(catalog_pb2.ListBooksRequest(order=99), timeout=TIMEOUT))  # type: ignore[arg-type]
    assert _fields(violations) == ["order"]


# --- health, reflection, shutdown ----------------------------------------------------------


async def test_health_reports_serving(running: Running) -> None:
    health = health_pb2_grpc.HealthStub(running.channel)
    for service in ("", SERVICE):
        response = await health.Check(health_pb2.HealthCheckRequest(service=service), timeout=TIMEOUT)
        assert response.status == health_pb2.HealthCheckResponse.SERVING
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await health.Check(health_pb2.HealthCheckRequest(service="folio.nothing.v1.Nope"), timeout=TIMEOUT)
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND


async def test_stop_reports_not_serving_then_closes_the_port(running: Running) -> None:
    health = health_pb2_grpc.HealthStub(running.channel)
    watch = health.Watch(health_pb2.HealthCheckRequest(service=SERVICE))
    first = await asyncio.wait_for(watch.read(), TIMEOUT)
    assert first.status == health_pb2.HealthCheckResponse.SERVING
    stopping = asyncio.create_task(running.server.stop())
    after = await asyncio.wait_for(watch.read(), TIMEOUT)
    assert after.status == health_pb2.HealthCheckResponse.NOT_SERVING
    await asyncio.wait_for(stopping, TIMEOUT)
    with (
        pytest.raises(ConnectionRefusedError),
        socket.create_connection(("127.0.0.1", running.server.port), timeout=2),
    ):
        pass


async def test_reflection_lists_the_services(running: Running) -> None:
    reflection = reflection_pb2_grpc.ServerReflectionStub(running.channel)
    requests = [
        reflection_pb2.ServerReflectionRequest(list_services=""),
        reflection_pb2.ServerReflectionRequest(file_containing_symbol=SERVICE),
    ]
    responses = [r async for r in reflection.ServerReflectionInfo(iter(requests), timeout=TIMEOUT)]
    names = {s.name for s in responses[0].list_services_response.service}
    assert {SERVICE, "grpc.health.v1.Health"} <= names
    assert responses[1].file_descriptor_response.file_descriptor_proto
    assert not responses[1].HasField("error_response")


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda stub: stub.SearchBooks(catalog_pb2.SearchBooksRequest(query="whale\x00")), "query"),
        (lambda stub: stub.GetBook(catalog_pb2.GetBookRequest(id="moby-dick\n")), "id"),
        (lambda stub: stub.ListBooks(catalog_pb2.ListBooksRequest(page_token="\x1b[2J")), "page_token"),
        (lambda stub: stub.GetAuthor(catalog_pb2.GetAuthorRequest(id="herman-melville\x85")), "id"),
    ],
)
async def test_control_characters_are_refused_naming_the_field(
    stub: catalog_pb2_grpc.CatalogServiceStub, call: Any, field: str
) -> None:
    [(named, message)] = await _invalid(call(stub))
    assert named == field
    assert message.startswith("must not contain control characters")


@pytest.mark.parametrize("value", ["moby-dick\n", "moby-dick\nmore"])
def test_an_id_must_match_whole(value: str) -> None:
    with pytest.raises(InvalidArgument):
        _check_id("id", value)
