"""REST API v1. Every route here is public: anonymous shoppers may call it (read-only catalog)."""

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query

from folio.catalog.v1 import catalog_pb2
from folio_storefront.deps import CatalogDep
from folio_storefront.errors import ERROR_RESPONSES
from folio_storefront.schemas import Author, AuthorPage, Book, BookPage, Genre, author_of, book_of

router = APIRouter(prefix="/api/v1", responses=ERROR_RESPONSES)

ID = r"^[a-z0-9][a-z0-9-]{0,159}$"
PageSize = Annotated[int, Query(ge=1, le=100, description="results per page, 1-100")]
PageToken = Annotated[str, Query(max_length=200, description="next_page_token from the previous page")]
SlugFilter = Annotated[str | None, Query(pattern=ID, max_length=160)]
ORDERS = {
    "title": catalog_pb2.BOOK_ORDER_TITLE,
    "year": catalog_pb2.BOOK_ORDER_YEAR,
    "-year": catalog_pb2.BOOK_ORDER_YEAR_DESC,
}


@router.get("/books", summary="List books (public)", tags=["books"])
async def list_books(
    catalog: CatalogDep,
    page_size: PageSize = 20,
    page_token: PageToken = "",
    genre: SlugFilter = None,
    author: SlugFilter = None,
    featured: bool = False,
    order: Literal["title", "year", "-year"] = "title",
) -> BookPage:
    response = await catalog.list_books(
        page_size=page_size,
        page_token=page_token,
        genre_id=genre or "",
        author_id=author or "",
        featured_only=featured,
        order=ORDERS[order],
    )
    return BookPage(
        items=[book_of(b) for b in response.books],
        total=response.total_size,
        next_page_token=response.next_page_token or None,
    )


@router.get("/books/{book_id}", summary="Get one book (public)", tags=["books"])
async def get_book(catalog: CatalogDep, book_id: Annotated[str, Path(pattern=ID, max_length=160)]) -> Book:
    return book_of(await catalog.get_book(book_id))


@router.get("/search", summary="Search books by title, author and description (public)", tags=["books"])
async def search(
    catalog: CatalogDep,
    q: Annotated[str, Query(min_length=1, max_length=200, description="words to look for")],
    page_size: PageSize = 20,
    page_token: PageToken = "",
    genre: SlugFilter = None,
) -> BookPage:
    response = await catalog.search_books(
        query=q, page_size=page_size, page_token=page_token, genre_id=genre or ""
    )
    return BookPage(
        items=[book_of(b) for b in response.books],
        total=response.total_size,
        next_page_token=response.next_page_token or None,
    )


@router.get("/genres", summary="List genres with book counts (public)", tags=["genres"])
async def list_genres(catalog: CatalogDep) -> list[Genre]:
    response = await catalog.list_genres()
    return [
        Genre(id=g.id, name=g.name, description=g.description, book_count=g.book_count)
        for g in response.genres
    ]


@router.get("/authors", summary="List authors by name (public)", tags=["authors"])
async def list_authors(
    catalog: CatalogDep, page_size: PageSize = 20, page_token: PageToken = ""
) -> AuthorPage:
    response = await catalog.list_authors(page_size=page_size, page_token=page_token)
    return AuthorPage(
        items=[author_of(a) for a in response.authors],
        total=response.total_size,
        next_page_token=response.next_page_token or None,
    )


@router.get("/authors/{author_id}", summary="Get one author (public)", tags=["authors"])
async def get_author(
    catalog: CatalogDep, author_id: Annotated[str, Path(pattern=ID, max_length=160)]
) -> Author:
    return author_of(await catalog.get_author(author_id))
