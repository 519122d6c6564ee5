"""The storefront's view of the catalog: typed calls, gRPC failures turned into edge errors."""

import asyncio
from collections.abc import Awaitable, Sequence

import grpc

from folio.catalog.v1 import catalog_pb2, catalog_pb2_grpc
from folio_platform.auth import bearer
from folio_storefront.backends import call_backend, is_serving

CATALOG = "catalog"
BATCH = 100  # ids the catalog takes in one BatchGetBooks
CATALOG_SERVICE = catalog_pb2.DESCRIPTOR.services_by_name["CatalogService"].full_name
# Catalog request fields whose storefront parameter (REST query and page URLs) has another name.
_PARAMETERS = {"genre_id": "genre", "author_id": "author", "query": "q"}


async def _call[T](call: Awaitable[T]) -> T:
    return await call_backend(CATALOG, call, parameters=_PARAMETERS)


class CatalogClient:
    def __init__(self, channel: grpc.aio.Channel) -> None:
        self._channel = channel
        self._stub = catalog_pb2_grpc.CatalogServiceStub(channel)

    async def list_books(
        self,
        *,
        page_size: int = 0,
        page_token: str = "",
        genre_id: str = "",
        author_id: str = "",
        featured_only: bool = False,
        order: int = catalog_pb2.BOOK_ORDER_TITLE,
    ) -> catalog_pb2.ListBooksResponse:
        request = catalog_pb2.ListBooksRequest(
            page_size=page_size,
            page_token=page_token,
            genre_id=genre_id,
            author_id=author_id,
            featured_only=featured_only,
            order=order,  # type: ignore[arg-type]
        )
        return await _call(self._stub.ListBooks(request))

    async def get_book(self, book_id: str) -> catalog_pb2.Book:
        return await _call(self._stub.GetBook(catalog_pb2.GetBookRequest(id=book_id)))

    async def get_books(self, book_ids: Sequence[str]) -> list[catalog_pb2.Book]:
        """The books with these ids that exist, in the order asked (one call per 100 ids)."""
        batches = [book_ids[i : i + BATCH] for i in range(0, len(book_ids), BATCH)]
        answers = await asyncio.gather(
            *(
                _call(self._stub.BatchGetBooks(catalog_pb2.BatchGetBooksRequest(ids=batch)))
                for batch in batches
            )
        )
        return [book for answer in answers for book in answer.books]

    async def search_books(
        self, *, query: str, page_size: int = 0, page_token: str = "", genre_id: str = ""
    ) -> catalog_pb2.SearchBooksResponse:
        request = catalog_pb2.SearchBooksRequest(
            query=query, page_size=page_size, page_token=page_token, genre_id=genre_id
        )
        return await _call(self._stub.SearchBooks(request))

    async def list_genres(self) -> catalog_pb2.ListGenresResponse:
        return await _call(self._stub.ListGenres(catalog_pb2.ListGenresRequest()))

    async def list_authors(
        self, *, page_size: int = 0, page_token: str = ""
    ) -> catalog_pb2.ListAuthorsResponse:
        request = catalog_pb2.ListAuthorsRequest(page_size=page_size, page_token=page_token)
        return await _call(self._stub.ListAuthors(request))

    async def get_author(self, author_id: str) -> catalog_pb2.Author:
        return await _call(self._stub.GetAuthor(catalog_pb2.GetAuthorRequest(id=author_id)))

    # Administration: the caller's own token, checked by the catalog for the catalog-admin role.
    async def create_book(self, token: str, request: catalog_pb2.CreateBookRequest) -> catalog_pb2.Book:
        return await _call(self._stub.CreateBook(request, metadata=bearer(token)))

    async def update_book(self, token: str, request: catalog_pb2.UpdateBookRequest) -> catalog_pb2.Book:
        return await _call(self._stub.UpdateBook(request, metadata=bearer(token)))

    async def is_serving(self, probe_timeout: float = 1.0) -> bool:
        """The catalog's own answer through the standard gRPC health protocol."""
        return await is_serving(self._channel, CATALOG_SERVICE, probe_timeout)
