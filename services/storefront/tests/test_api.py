"""The public REST API (/api/v1) over a live catalog: what shoppers and API clients get back."""

from decimal import Decimal

import httpx
import pytest

from folio_catalog.repository import BookRecord


async def _all_pages(client: httpx.AsyncClient, path: str, **params: object) -> tuple[list[dict], list[int]]:
    """Every item, following next_page_token; also the total each page reported."""
    items: list[dict] = []
    totals: list[int] = []
    token = None
    for _ in range(50):
        query = dict(params) | ({"page_token": token} if token else {})
        response = await client.get(path, params=query)
        assert response.status_code == 200, response.text
        body = response.json()
        items.extend(body["items"])
        totals.append(body["total"])
        token = body["next_page_token"]
        if token is None:
            return items, totals
    raise AssertionError("next_page_token never ran out")


def _ids(items: list[dict]) -> list[str]:
    return [item["id"] for item in items]


def _by_title(books: list[BookRecord]) -> list[str]:
    return [b.id for b in sorted(books, key=lambda b: (b.title, b.id))]


async def test_paging_through_books_visits_each_book_once_in_title_order(client, known) -> None:
    items, totals = await _all_pages(client, "/api/v1/books", page_size=5)

    assert _ids(items) == _by_title(known.books)
    assert set(totals) == {len(known.books)}


async def test_default_page_is_twenty_books_or_all_of_fewer(client, known) -> None:
    body = (await client.get("/api/v1/books")).json()

    assert len(body["items"]) == min(20, len(known.books))
    assert body["total"] == len(known.books)


@pytest.mark.parametrize("page_size", [1, 100])
async def test_page_size_limits_are_inclusive(client, known, page_size: int) -> None:
    body = (await client.get("/api/v1/books", params={"page_size": page_size})).json()

    assert len(body["items"]) == min(page_size, len(known.books))
    assert (body["next_page_token"] is None) == (page_size >= len(known.books))


async def test_genre_filter_returns_exactly_that_genre_across_pages(client, known) -> None:
    items, totals = await _all_pages(client, "/api/v1/books", genre="adventure", page_size=3)

    assert _ids(items) == _by_title(known.in_genre("adventure"))
    assert set(totals) == {len(known.in_genre("adventure"))}
    assert all("adventure" in [g["id"] for g in item["genres"]] for item in items)


async def test_genre_with_no_books_gives_an_empty_page(client, known) -> None:
    body = (await client.get("/api/v1/books", params={"genre": "poetry"})).json()

    assert known.in_genre("poetry") == []
    assert body == {"items": [], "total": 0, "next_page_token": None}


async def test_author_filter_returns_only_their_books(client, known) -> None:
    body = (await client.get("/api/v1/books", params={"author": "jules-verne"})).json()

    assert _ids(body["items"]) == _by_title(known.by_author("jules-verne"))
    assert {item["author"]["name"] for item in body["items"]} == {known.author("jules-verne").name}


async def test_featured_filter_returns_only_featured_books(client, known) -> None:
    body = (await client.get("/api/v1/books", params={"featured": "true"})).json()

    assert _ids(body["items"]) == _by_title([b for b in known.books if b.featured])
    assert all(item["featured"] for item in body["items"])


async def test_filters_combine(client, known) -> None:
    body = (await client.get("/api/v1/books", params={"genre": "science-fiction", "featured": "true"})).json()

    expected = [b for b in known.in_genre("science-fiction") if b.featured]
    assert expected, "the fixture should hold a featured science-fiction book"
    assert _ids(body["items"]) == _by_title(expected)


@pytest.mark.parametrize(
    ("order", "key"),
    [
        ("title", lambda b: (b.title, b.id)),
        ("year", lambda b: (b.year, b.title)),
        ("-year", lambda b: (-b.year, b.title)),
    ],
)
async def test_order(client, known, order: str, key) -> None:
    items, _ = await _all_pages(client, "/api/v1/books", order=order, page_size=4)

    assert _ids(items) == [b.id for b in sorted(known.books, key=key)]


async def test_year_order_puts_bce_books_first(client, known) -> None:
    body = (await client.get("/api/v1/books", params={"order": "year", "page_size": 1})).json()

    oldest = min(known.books, key=lambda b: b.year)
    assert oldest.year < 0
    assert body["items"][0]["year"] == oldest.year


async def test_one_book_has_the_documented_shape(client, known) -> None:
    body = (await client.get("/api/v1/books/moby-dick")).json()

    book = known.book("moby-dick")
    assert body == {
        "id": book.id,
        "title": book.title,
        "author": {"id": book.author_id, "name": book.author_name},
        "year": book.year,
        "language": book.language,
        "genres": [{"id": gid, "name": name} for gid, name in book.genres],
        "description": book.description,
        "price": {"currency": "USD", "amount": "12.99", "minor_units": 1299},
        "stock": book.stock,
        "in_stock": True,
        "featured": book.featured,
    }


@pytest.mark.parametrize("book_id", ["journey-to-the-centre-of-the-earth", "the-odyssey", "typee"])
async def test_price_amount_is_a_two_decimal_string_matching_minor_units(client, known, book_id: str) -> None:
    price = (await client.get(f"/api/v1/books/{book_id}")).json()["price"]

    assert price["minor_units"] == known.book(book_id).price_minor
    assert price["amount"] == f"{Decimal(price['minor_units']) / 100:.2f}"
    assert len(price["amount"].split(".")[1]) == 2


async def test_book_with_no_stock_is_not_in_stock(client, known) -> None:
    body = (await client.get("/api/v1/books/bartleby-the-scrivener")).json()

    assert known.book("bartleby-the-scrivener").stock == 0
    assert (body["stock"], body["in_stock"]) == (0, False)


async def test_search_ranks_a_title_match_above_a_description_match(client) -> None:
    body = (await client.get("/api/v1/search", params={"q": "whale"})).json()

    # Journey... sorts before Moby-Dick by title, so only ranking puts Moby-Dick first.
    assert _ids(body["items"]) == ["moby-dick", "journey-to-the-centre-of-the-earth"]
    assert body["total"] == 2


async def test_search_finds_books_by_author_name(client, known) -> None:
    body = (await client.get("/api/v1/search", params={"q": "Conan Doyle"})).json()

    assert set(_ids(body["items"])) == {b.id for b in known.by_author("arthur-conan-doyle")}


async def test_search_matches_a_half_typed_last_word(client) -> None:
    body = (await client.get("/api/v1/search", params={"q": "baskerv"})).json()

    assert _ids(body["items"]) == ["the-hound-of-the-baskervilles"]


async def test_search_pages_and_genre_filter(client) -> None:
    items, totals = await _all_pages(client, "/api/v1/search", q="captain", page_size=1)
    in_genre = (
        await client.get("/api/v1/search", params={"q": "captain", "genre": "science-fiction"})
    ).json()

    assert len(items) == len(set(_ids(items))) == totals[0] == 2
    assert _ids(in_genre["items"]) == ["twenty-thousand-leagues-under-the-seas"]


async def test_search_with_no_match_is_empty_not_an_error(client) -> None:
    response = await client.get("/api/v1/search", params={"q": "zeppelin"})

    assert response.status_code == 200
    assert response.json() == {"items": [], "total": 0, "next_page_token": None}


async def test_genres_have_names_descriptions_and_book_counts(client, known) -> None:
    body = (await client.get("/api/v1/genres")).json()

    expected = [
        {"id": g.id, "name": g.name, "description": g.description, "book_count": len(known.in_genre(g.id))}
        for g in sorted(known.genres, key=lambda g: g.name)
    ]
    assert body == expected


async def test_authors_are_listed_by_name_with_book_counts(client, known) -> None:
    items, totals = await _all_pages(client, "/api/v1/authors", page_size=4)

    assert _ids(items) == [a.id for a in sorted(known.authors, key=lambda a: a.name)]
    assert set(totals) == {len(known.authors)}
    assert {i["id"]: i["book_count"] for i in items} == {
        a.id: len(known.by_author(a.id)) for a in known.authors
    }


async def test_one_author(client, known) -> None:
    body = (await client.get("/api/v1/authors/jules-verne")).json()

    author = known.author("jules-verne")
    assert body == {
        "id": author.id,
        "name": author.name,
        "born": author.born,
        "died": author.died,
        "nationality": author.nationality,
        "bio": author.bio,
        "book_count": len(known.by_author(author.id)),
    }


async def test_author_with_unknown_dates_has_null_born_and_died(client) -> None:
    body = (await client.get("/api/v1/authors/homer")).json()

    assert (body["born"], body["died"]) == (None, None)
