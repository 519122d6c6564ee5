"""Catalog administration: only people with the catalog-admin role add and change books."""

import grpc
import pytest

from folio.catalog.v1 import catalog_pb2, catalog_pb2_grpc
from folio.common.v1 import money_pb2
from folio_catalog.repository import SqlCatalogRepository
from folio_platform.grpc_server import GrpcServer
from folio_testing.issuer import TestIssuer

from .conftest import StartCatalog

NEW_BOOK = catalog_pb2.CreateBookRequest(
    id="the-time-machine",
    title="The Time Machine",
    author_id="herman-melville",
    year=1895,
    language="en",
    genre_ids=["adventure"],
    description="A traveller rides a machine to the year 802,701.",
    price=money_pb2.Money(currency_code="USD", minor_units=899),
    stock=4,
)


@pytest.fixture
async def server(writable_repository: SqlCatalogRepository, start_catalog: StartCatalog) -> GrpcServer:
    return await start_catalog(writable_repository)


async def _call(
    issuer: TestIssuer, server: GrpcServer, token: str | None, method: str, request: object
) -> object:
    async with issuer.channel(server.port, token) as channel:
        return await getattr(catalog_pb2_grpc.CatalogServiceStub(channel), method)(request)


async def _refusal(
    issuer: TestIssuer, server: GrpcServer, token: str | None, method: str, request: object
) -> str:
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await _call(issuer, server, token, method, request)
    return f"{refused.value.code().name}: {refused.value.details()}"


async def test_an_admin_adds_a_book_that_readers_then_find(server: GrpcServer, issuer: TestIssuer) -> None:
    admin = issuer.token("carol-id", username="carol", roles=("customer", "catalog-admin"))
    created = await _call(issuer, server, admin, "CreateBook", NEW_BOOK)
    assert isinstance(created, catalog_pb2.Book)
    assert (created.title, created.author.name, created.stock) == ("The Time Machine", "Herman Melville", 4)
    read = await _call(issuer, server, None, "GetBook", catalog_pb2.GetBookRequest(id="the-time-machine"))
    assert read == created
    found = await _call(
        issuer, server, None, "SearchBooks", catalog_pb2.SearchBooksRequest(query="traveller machine")
    )
    assert [b.id for b in found.books] == ["the-time-machine"]  # type: ignore[attr-defined]
    again = await _refusal(issuer, server, admin, "CreateBook", NEW_BOOK)
    assert again.startswith("ALREADY_EXISTS")


async def test_an_admin_changes_only_the_fields_given(server: GrpcServer, issuer: TestIssuer) -> None:
    admin = issuer.token("carol-id", roles=("catalog-admin",))
    before = await _call(issuer, server, None, "GetBook", catalog_pb2.GetBookRequest(id="moby-dick"))
    change = catalog_pb2.UpdateBookRequest(id="moby-dick", price_minor_units=1500, stock=3)
    after = await _call(issuer, server, admin, "UpdateBook", change)
    assert isinstance(before, catalog_pb2.Book)
    assert isinstance(after, catalog_pb2.Book)
    assert (after.price.minor_units, after.stock) == (1500, 3)
    assert (after.title, after.description) == (before.title, before.description)
    missing = await _refusal(
        issuer, server, admin, "UpdateBook", catalog_pb2.UpdateBookRequest(id="no-such-book", stock=1)
    )
    assert missing.startswith("NOT_FOUND")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"id": "Not A Slug"}, "id"),
        ({"id": "the-time-machine\n"}, "id"),
        ({"title": "The Time\x00Machine"}, "title"),
        ({"description": "A traveller\x1b[2J rides"}, "description"),
        ({"genre_ids": ["adventure", "fantasy\x7f"]}, "genre_ids[1]"),
        ({"title": "  "}, "title"),
        ({"author_id": "nobody-at-all"}, "author_id"),
        ({"genre_ids": ["no-such-genre"]}, "genre_ids"),
        ({"language": "english"}, "language"),
        ({"stock": -1}, "stock"),
    ],
)
async def test_bad_books_are_refused_naming_the_field(
    server: GrpcServer, issuer: TestIssuer, change: dict[str, object], field: str
) -> None:
    admin = issuer.token("carol-id", roles=("catalog-admin",))
    request = catalog_pb2.CreateBookRequest()
    request.CopyFrom(NEW_BOOK)
    for name, value in change.items():
        if isinstance(value, list):
            del getattr(request, name)[:]
            getattr(request, name).extend(value)
        else:
            setattr(request, name, value)
    refusal = await _refusal(issuer, server, admin, "CreateBook", request)
    assert refusal.startswith(f"INVALID_ARGUMENT: {field}:"), refusal


@pytest.mark.parametrize(("who", "code"), [("nobody", "UNAUTHENTICATED"), ("customer", "PERMISSION_DENIED")])
async def test_nobody_else_writes_the_catalog(
    server: GrpcServer, issuer: TestIssuer, who: str, code: str
) -> None:
    token = None if who == "nobody" else issuer.token("alice-id", roles=("customer",))
    for method, request in [
        ("CreateBook", NEW_BOOK),
        ("UpdateBook", catalog_pb2.UpdateBookRequest(id="moby-dick", stock=0)),
    ]:
        assert (await _refusal(issuer, server, token, method, request)).startswith(code)
    stock = await _call(issuer, server, None, "GetBook", catalog_pb2.GetBookRequest(id="moby-dick"))
    assert stock.stock > 0  # type: ignore[attr-defined]


async def test_a_description_may_run_over_several_lines(server: GrpcServer, issuer: TestIssuer) -> None:
    admin = issuer.token("carol-id", roles=("catalog-admin",))
    request = catalog_pb2.CreateBookRequest()
    request.CopyFrom(NEW_BOOK)
    request.description = "A traveller rides a machine.\r\n\n\tHe meets the Eloi."
    created = await _call(issuer, server, admin, "CreateBook", request)
    assert created.description == request.description  # type: ignore[attr-defined]
    change = catalog_pb2.UpdateBookRequest(id="the-time-machine", title="The Time\nMachine")
    refusal = await _refusal(issuer, server, admin, "UpdateBook", change)
    assert refusal.startswith("INVALID_ARGUMENT: title: must not contain control characters"), refusal
