"""folio.catalog.v1.CatalogService: request validation and proto mapping over the repository."""

import re

import grpc

from folio.catalog.v1 import catalog_pb2, catalog_pb2_grpc
from folio.common.v1 import money_pb2
from folio_catalog.repository import (
    AuthorRecord,
    BookOrder,
    BookRecord,
    CatalogRepository,
    ReservationRecord,
    ReservationState,
)
from folio_platform import pagination
from folio_platform.auth import PUBLIC, role, rules_for, services_only
from folio_platform.errors import InvalidArgument, NotFound

ID_PATTERN = re.compile(r"[a-z0-9][a-z0-9-]{0,159}")
RESERVATION_ID = re.compile(r"[A-Za-z0-9_-]{1,100}")
MAX_LINES = 50
MAX_QUANTITY = 99
STATES = {
    ReservationState.HELD: catalog_pb2.RESERVATION_STATE_HELD,
    ReservationState.RELEASED: catalog_pb2.RESERVATION_STATE_RELEASED,
    ReservationState.COMMITTED: catalog_pb2.RESERVATION_STATE_COMMITTED,
}
MAX_QUERY_LENGTH = 200
MAX_BATCH = 100  # ids in one BatchGetBooks
ORDERS = {
    catalog_pb2.BOOK_ORDER_UNSPECIFIED: BookOrder.TITLE,
    catalog_pb2.BOOK_ORDER_TITLE: BookOrder.TITLE,
    catalog_pb2.BOOK_ORDER_YEAR: BookOrder.YEAR,
    catalog_pb2.BOOK_ORDER_YEAR_DESC: BookOrder.YEAR_DESC,
}

Context = grpc.aio.ServicerContext[object, object]


def _check_id(field: str, value: str, *, required: bool = True) -> None:
    if not value:
        if required:
            raise InvalidArgument(field, "is required")
        return
    if not ID_PATTERN.fullmatch(value):
        raise InvalidArgument(
            field, "must be a lowercase slug such as 'moby-dick' (letters, digits, hyphens)"
        )


def book_message(book: BookRecord) -> catalog_pb2.Book:
    return catalog_pb2.Book(
        id=book.id,
        title=book.title,
        author=catalog_pb2.AuthorRef(id=book.author_id, name=book.author_name),
        year=book.year,
        language=book.language,
        genres=[catalog_pb2.GenreRef(id=gid, name=name) for gid, name in book.genres],
        description=book.description,
        price=money_pb2.Money(currency_code=book.currency_code, minor_units=book.price_minor),
        stock=book.stock,
        featured=book.featured,
    )


def author_message(author: AuthorRecord) -> catalog_pb2.Author:
    return catalog_pb2.Author(
        id=author.id,
        name=author.name,
        born=author.born,
        died=author.died,
        nationality=author.nationality,
        bio=author.bio,
        book_count=author.book_count,
    )


def reservation_message(reservation: ReservationRecord) -> catalog_pb2.Reservation:
    return catalog_pb2.Reservation(
        reservation_id=reservation.id,
        state=STATES[reservation.state],
        lines=[
            catalog_pb2.ReservedLine(
                book_id=line.book_id,
                title=line.title,
                quantity=line.quantity,
                unit_price=money_pb2.Money(
                    currency_code=line.currency_code, minor_units=line.unit_price_minor
                ),
            )
            for line in reservation.lines
        ],
    )


def _check_reservation_id(value: str) -> None:
    if not RESERVATION_ID.fullmatch(value):
        raise InvalidArgument("reservation_id", "is required: 1-100 letters, digits, '-' or '_'")


# Reading the catalog is public; stock holds are taken and settled only by orders' checkout;
# books are added and changed only by people holding the catalog-admin role.
_ORDERS = services_only("folio-orders")
ACCESS = rules_for(
    catalog_pb2.DESCRIPTOR.services_by_name["CatalogService"],
    {
        **dict.fromkeys(
            (
                "ListBooks",
                "GetBook",
                "BatchGetBooks",
                "SearchBooks",
                "ListGenres",
                "ListAuthors",
                "GetAuthor",
            ),
            PUBLIC,
        ),
        **dict.fromkeys(("ReserveStock", "ReleaseStock", "CommitStock"), _ORDERS),
        **dict.fromkeys(("CreateBook", "UpdateBook"), role("catalog-admin")),
    },
)
# A book's description may run over several lines; every other text field is one line.
MULTILINE = frozenset(
    f"folio.catalog.v1.{message}.description" for message in ("CreateBookRequest", "UpdateBookRequest")
)


class CatalogServicer(catalog_pb2_grpc.CatalogServiceServicer):
    def __init__(self, repository: CatalogRepository) -> None:
        self.repository = repository

    async def _check_genre(self, genre_id: str) -> None:
        _check_id("genre_id", genre_id, required=False)
        if genre_id and not await self.repository.genre_exists(genre_id):
            raise InvalidArgument("genre_id", f"unknown genre {genre_id!r}; ListGenres gives the valid ones")

    async def ListBooks(
        self, request: catalog_pb2.ListBooksRequest, context: Context
    ) -> catalog_pb2.ListBooksResponse:
        size = pagination.page_size(request.page_size)
        await self._check_genre(request.genre_id)
        _check_id("author_id", request.author_id, required=False)
        if request.order not in ORDERS:
            raise InvalidArgument("order", f"unknown order {request.order}")
        filters = ("books", request.genre_id, request.author_id, request.featured_only, request.order)
        offset = pagination.decode(request.page_token, *filters)
        page = await self.repository.list_books(
            offset=offset,
            limit=size,
            genre_id=request.genre_id or None,
            author_id=request.author_id or None,
            featured_only=request.featured_only,
            order=ORDERS[request.order],
        )
        return catalog_pb2.ListBooksResponse(
            books=[book_message(b) for b in page.items],
            next_page_token=pagination.next_token(offset, size, page.total, *filters),
            total_size=page.total,
        )

    async def GetBook(self, request: catalog_pb2.GetBookRequest, context: Context) -> catalog_pb2.Book:
        _check_id("id", request.id)
        book = await self.repository.get_book(request.id)
        if book is None:
            raise NotFound(f"no book with id {request.id!r}")
        return book_message(book)

    async def BatchGetBooks(
        self, request: catalog_pb2.BatchGetBooksRequest, context: Context
    ) -> catalog_pb2.BatchGetBooksResponse:
        if not request.ids:
            raise InvalidArgument("ids", "is required: one book id or more")
        if len(request.ids) > MAX_BATCH:
            raise InvalidArgument("ids", f"at most {MAX_BATCH} ids in one call (got {len(request.ids)})")
        for book_id in request.ids:
            _check_id("ids", book_id)
        ids = list(dict.fromkeys(request.ids))  # each once, in the order asked
        found = {book.id: book for book in await self.repository.get_books(ids)}
        return catalog_pb2.BatchGetBooksResponse(books=[book_message(found[i]) for i in ids if i in found])

    async def SearchBooks(
        self, request: catalog_pb2.SearchBooksRequest, context: Context
    ) -> catalog_pb2.SearchBooksResponse:
        query = request.query.strip()
        if not query:
            raise InvalidArgument(
                "query", "is required: type a word from a title, an author or a description"
            )
        if len(query) > MAX_QUERY_LENGTH:
            raise InvalidArgument(
                "query", f"is too long ({len(query)} characters; at most {MAX_QUERY_LENGTH})"
            )
        size = pagination.page_size(request.page_size)
        await self._check_genre(request.genre_id)
        filters = ("search", query, request.genre_id)
        offset = pagination.decode(request.page_token, *filters)
        page = await self.repository.search_books(
            query=query, offset=offset, limit=size, genre_id=request.genre_id or None
        )
        return catalog_pb2.SearchBooksResponse(
            books=[book_message(b) for b in page.items],
            next_page_token=pagination.next_token(offset, size, page.total, *filters),
            total_size=page.total,
        )

    async def ListGenres(
        self, request: catalog_pb2.ListGenresRequest, context: Context
    ) -> catalog_pb2.ListGenresResponse:
        genres = await self.repository.list_genres()
        return catalog_pb2.ListGenresResponse(
            genres=[
                catalog_pb2.Genre(id=g.id, name=g.name, description=g.description, book_count=g.book_count)
                for g in genres
            ]
        )

    async def ListAuthors(
        self, request: catalog_pb2.ListAuthorsRequest, context: Context
    ) -> catalog_pb2.ListAuthorsResponse:
        size = pagination.page_size(request.page_size)
        offset = pagination.decode(request.page_token, "authors")
        page = await self.repository.list_authors(offset=offset, limit=size)
        return catalog_pb2.ListAuthorsResponse(
            authors=[author_message(a) for a in page.items],
            next_page_token=pagination.next_token(offset, size, page.total, "authors"),
            total_size=page.total,
        )

    async def GetAuthor(self, request: catalog_pb2.GetAuthorRequest, context: Context) -> catalog_pb2.Author:
        _check_id("id", request.id)
        author = await self.repository.get_author(request.id)
        if author is None:
            raise NotFound(f"no author with id {request.id!r}")
        return author_message(author)

    async def ReserveStock(
        self, request: catalog_pb2.ReserveStockRequest, context: Context
    ) -> catalog_pb2.Reservation:
        _check_reservation_id(request.reservation_id)
        if not 1 <= len(request.lines) <= MAX_LINES:
            raise InvalidArgument("lines", f"give 1 to {MAX_LINES} lines (got {len(request.lines)})")
        wanted: dict[str, int] = {}
        for line in request.lines:
            _check_id("lines.book_id", line.book_id)
            if not 1 <= line.quantity <= MAX_QUANTITY:
                raise InvalidArgument(
                    "lines.quantity", f"must be between 1 and {MAX_QUANTITY} (got {line.quantity})"
                )
            # The same book twice in one request is one line with the quantities added.
            wanted[line.book_id] = wanted.get(line.book_id, 0) + line.quantity
        reservation = await self.repository.reserve(request.reservation_id, sorted(wanted.items()))
        return reservation_message(reservation)

    async def ReleaseStock(
        self, request: catalog_pb2.ReleaseStockRequest, context: Context
    ) -> catalog_pb2.Reservation:
        _check_reservation_id(request.reservation_id)
        return reservation_message(await self.repository.release(request.reservation_id))

    async def CommitStock(
        self, request: catalog_pb2.CommitStockRequest, context: Context
    ) -> catalog_pb2.Reservation:
        _check_reservation_id(request.reservation_id)
        return reservation_message(await self.repository.commit(request.reservation_id))

    async def CreateBook(self, request: catalog_pb2.CreateBookRequest, context: Context) -> catalog_pb2.Book:
        _check_id("id", request.id)
        _check_id("author_id", request.author_id)
        for genre_id in request.genre_ids:
            _check_id("genre_ids", genre_id)
        title = _text("title", request.title, 300, required=True)
        description = _text("description", request.description, 5000)
        if not re.fullmatch(r"[a-z]{2}", request.language):
            raise InvalidArgument("language", "must be a two-letter ISO 639-1 code such as 'en'")
        if not -3000 <= request.year <= 2100:
            raise InvalidArgument("year", "must be between -3000 and 2100 (negative for BCE)")
        if not re.fullmatch(r"[A-Z]{3}", request.price.currency_code):
            raise InvalidArgument("price.currency_code", "must be a three-letter code such as USD")
        price = _price(request.price.minor_units)
        stock = _stock(request.stock)
        record = BookRecord(
            id=request.id,
            title=title,
            author_id=request.author_id,
            author_name="",
            year=request.year,
            language=request.language,
            genres=tuple((g, "") for g in dict.fromkeys(request.genre_ids)),
            description=description,
            price_minor=price,
            currency_code=request.price.currency_code,
            stock=stock,
        )
        return book_message(await self.repository.create_book(record))

    async def UpdateBook(self, request: catalog_pb2.UpdateBookRequest, context: Context) -> catalog_pb2.Book:
        _check_id("id", request.id)
        changes: dict[str, object] = {}
        if request.HasField("title"):
            changes["title"] = _text("title", request.title, 300, required=True)
        if request.HasField("description"):
            changes["description"] = _text("description", request.description, 5000)
        if request.HasField("price_minor_units"):
            changes["price_minor"] = _price(request.price_minor_units)
        if request.HasField("stock"):
            changes["stock"] = _stock(request.stock)
        if request.HasField("featured"):
            changes["featured"] = request.featured
        return book_message(await self.repository.update_book(request.id, changes))


def _text(field: str, value: str, limit: int, *, required: bool = False) -> str:
    value = value.strip()
    if required and not value:
        raise InvalidArgument(field, "is required")
    if len(value) > limit:
        raise InvalidArgument(field, f"is too long ({limit} characters at most)")
    return value


def _price(minor_units: int) -> int:
    if not 0 <= minor_units <= 1_000_000:
        raise InvalidArgument("price", "must be between 0 and 1,000,000 minor units")
    return minor_units


def _stock(stock: int) -> int:
    if not 0 <= stock <= 100_000:
        raise InvalidArgument("stock", "must be between 0 and 100,000 copies")
    return stock
