"""Server-rendered pages. All public: anonymous shoppers may browse the whole catalog."""

import asyncio
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse

from folio.catalog.v1 import catalog_pb2
from folio_storefront.api import ID
from folio_storefront.deps import CatalogDep, TemplatesDep
from folio_storefront.errors import NotFoundError
from folio_storefront.schemas import author_of, book_of

router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)
PageToken = Annotated[str, Query(max_length=200)]
Slug = Annotated[str, Path(pattern=ID, max_length=160)]
PAGE_SIZE = 24


@router.get("/")
async def home(request: Request, catalog: CatalogDep, templates: TemplatesDep) -> HTMLResponse:
    genres, featured = await asyncio.gather(
        catalog.list_genres(), catalog.list_books(featured_only=True, page_size=12)
    )
    return templates.TemplateResponse(
        request, "home.html", {"genres": genres.genres, "books": [book_of(b) for b in featured.books]}
    )


@router.get("/books/{book_id}")
async def book(request: Request, book_id: Slug, catalog: CatalogDep, templates: TemplatesDep) -> HTMLResponse:
    found = await catalog.get_book(book_id)
    more = await catalog.list_books(author_id=found.author.id, page_size=7)
    others = [book_of(b) for b in more.books if b.id != found.id][:6]
    return templates.TemplateResponse(request, "book.html", {"book": book_of(found), "others": others})


@router.get("/search")
async def search(
    request: Request,
    catalog: CatalogDep,
    templates: TemplatesDep,
    q: Annotated[str, Query(max_length=200)] = "",
    page_token: PageToken = "",
) -> HTMLResponse:
    context: dict[str, object] = {"q": q, "books": [], "total": 0, "next_page_token": ""}
    if q.strip():
        found = await catalog.search_books(query=q, page_size=PAGE_SIZE, page_token=page_token)
        context |= {
            "books": [book_of(b) for b in found.books],
            "total": found.total_size,
            "next_page_token": found.next_page_token,
        }
    return templates.TemplateResponse(request, "search.html", context)


@router.get("/genres/{genre_id}")
async def genre(
    request: Request, genre_id: Slug, catalog: CatalogDep, templates: TemplatesDep, page_token: PageToken = ""
) -> HTMLResponse:
    genres = await catalog.list_genres()
    match = next((g for g in genres.genres if g.id == genre_id), None)
    if match is None:
        raise NotFoundError(f"there is no genre {genre_id!r}")
    books = await catalog.list_books(genre_id=genre_id, page_size=PAGE_SIZE, page_token=page_token)
    return templates.TemplateResponse(
        request,
        "genre.html",
        {
            "genre": match,
            "genres": genres.genres,
            "books": [book_of(b) for b in books.books],
            "total": books.total_size,
            "next_page_token": books.next_page_token,
        },
    )


@router.get("/authors")
async def authors(
    request: Request, catalog: CatalogDep, templates: TemplatesDep, page_token: PageToken = ""
) -> HTMLResponse:
    page = await catalog.list_authors(page_size=60, page_token=page_token)
    return templates.TemplateResponse(
        request,
        "authors.html",
        {
            "authors": [author_of(a) for a in page.authors],
            "total": page.total_size,
            "next_page_token": page.next_page_token,
        },
    )


@router.get("/authors/{author_id}")
async def author(
    request: Request, author_id: Slug, catalog: CatalogDep, templates: TemplatesDep
) -> HTMLResponse:
    found, books = await asyncio.gather(
        catalog.get_author(author_id),
        catalog.list_books(author_id=author_id, page_size=100, order=catalog_pb2.BOOK_ORDER_YEAR),
    )
    return templates.TemplateResponse(
        request, "author.html", {"author": author_of(found), "books": [book_of(b) for b in books.books]}
    )
