"""Server-rendered pages over a live catalog: what a shopper sees in the browser."""

import html
import re

import httpx
import pytest


def _page(response: httpx.Response, status: int = 200) -> str:
    """The page's visible text content (tags kept, entities decoded) after checking it is HTML."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("text/html")
    return html.unescape(response.text)


def _in_order(text: str, *parts: str) -> bool:
    positions = [text.find(part) for part in parts]
    return -1 not in positions and positions == sorted(positions)


def _heading(text: str) -> str:
    match = re.search(r"<h1>(.*?)</h1>", text, re.S)
    assert match, "page has no <h1>"
    return re.sub(r"<[^>]+>", "", match.group(1)).strip()


async def test_home_lists_every_genre_with_its_count_and_the_featured_books(client, known) -> None:
    text = _page(await client.get("/"))

    for genre in known.genres:
        assert f'<a href="/genres/{genre.id}">{genre.name}</a>' in text
        count = len(known.in_genre(genre.id))
        assert f'{genre.name}</a> <span class="count">{count}</span>' in text
    featured = sorted((b for b in known.books if b.featured), key=lambda b: b.title)
    assert _in_order(text, "Featured", *(f'href="/books/{b.id}"' for b in featured))
    for book in known.books:
        assert (f'href="/books/{book.id}"' in text) == book.featured, book.id


async def test_book_page_shows_the_book_and_more_by_its_author(client, known) -> None:
    text = _page(await client.get("/books/moby-dick"))

    book = known.book("moby-dick")
    assert _heading(text) == book.title
    assert f"<title>{book.title} · Folio books</title>" in text
    assert f'by <a href="/authors/{book.author_id}">{book.author_name}</a>' in text
    assert book.description in text
    assert '<dd class="price">$12.99</dd>' in text
    assert f"{book.stock} in stock" in text
    for genre_id, name in book.genres:
        assert f'href="/genres/{genre_id}">{name}</a>' in text
    others = [b for b in known.by_author(book.author_id) if b.id != book.id]
    assert others
    assert f"More by {book.author_name}" in text
    for other in others:
        assert f'href="/books/{other.id}"' in text
    assert 'href="/books/moby-dick"' not in text


async def test_book_page_shows_out_of_stock_and_bce_years(client) -> None:
    bartleby = _page(await client.get("/books/bartleby-the-scrivener"))
    odyssey = _page(await client.get("/books/the-odyssey"))

    assert "<dd>Out of stock</dd>" in bartleby
    assert "725 BCE" in odyssey
    assert "-725" not in odyssey
    assert '<dd class="price">$0.05</dd>' in odyssey


async def test_unknown_book_page_is_a_friendly_404(client) -> None:
    text = _page(await client.get("/books/no-such-book"), 404)

    assert "We couldn't find that" in text
    assert "no-such-book" in text
    assert 'href="/"' in text


@pytest.mark.parametrize("path", ["/genres/cookery", "/authors/no-such-author", "/no/such/page"])
async def test_other_missing_pages_are_friendly_404s(client, path: str) -> None:
    text = _page(await client.get(path), 404)

    assert "find that" in text


async def test_malformed_book_id_in_a_page_url_is_a_friendly_400(client) -> None:
    text = _page(await client.get("/books/Not_A_Slug"), 400)

    assert "That request didn't look right" in text


async def test_search_page_lists_results_best_first(client) -> None:
    text = _page(await client.get("/search", params={"q": "whale"}))

    assert _heading(text) == "2 results for “whale”"
    assert _in_order(text, 'href="/books/moby-dick"', 'href="/books/journey-to-the-centre-of-the-earth"')
    assert 'value="whale"' in text


async def test_search_page_with_one_result_says_result(client) -> None:
    text = _page(await client.get("/search", params={"q": "baskervilles"}))

    assert _heading(text) == "1 result for “baskervilles”"


async def test_search_page_without_a_query_invites_one(client, known) -> None:
    for params in ({}, {"q": "   "}):
        text = _page(await client.get("/search", params=params))

        assert _heading(text) == "Search"
        assert "Type a title, an author or a few words" in text
        assert not any(f'href="/books/{b.id}"' in text for b in known.books)


async def test_search_page_with_no_match_says_so(client) -> None:
    text = _page(await client.get("/search", params={"q": "zeppelin"}))

    assert _heading(text) == "0 results for “zeppelin”"
    assert "No book matches" in text


async def test_search_page_escapes_the_query(client) -> None:
    response = await client.get("/search", params={"q": '<script>alert("x")</script>'})

    assert response.status_code == 200
    assert "<script>" not in response.text
    assert "&lt;script&gt;" in response.text


async def test_genre_page_shows_its_books_only(client, known) -> None:
    text = _page(await client.get("/genres/science-fiction"))

    genre = known.genre("science-fiction")
    books = sorted(known.in_genre(genre.id), key=lambda b: b.title)
    assert _heading(text) == genre.name
    assert genre.description in text
    assert f"{len(books)} books" in text
    assert _in_order(text, *(f'href="/books/{b.id}"' for b in books))
    for book in known.books:
        assert (f'href="/books/{book.id}"' in text) == (book in books)


async def test_authors_page_lists_every_author_by_name(client, known) -> None:
    text = _page(await client.get("/authors"))

    authors = sorted(known.authors, key=lambda a: a.name)
    assert _heading(text) == f"Authors {len(authors)}"
    assert _in_order(text, *(f'<a href="/authors/{a.id}">{a.name}</a>' for a in authors))


async def test_author_page_shows_life_and_books_oldest_first(client, known) -> None:
    text = _page(await client.get("/authors/jules-verne"))

    author = known.author("jules-verne")
    books = sorted(known.by_author(author.id), key=lambda b: b.year)
    assert _heading(text) == author.name
    assert f"{author.born}\u2013{author.died} · {author.nationality}" in text
    assert author.bio in text
    assert _in_order(text, *(b.title for b in books))


async def test_author_without_books_has_a_page(client, known) -> None:
    text = _page(await client.get("/authors/emily-dickinson"))

    assert _heading(text) == known.author("emily-dickinson").name
    assert 'href="/books/' not in text


async def test_pages_link_the_stylesheet_which_is_served(client) -> None:
    text = _page(await client.get("/"))
    match = re.search(r'<link rel="stylesheet" href="([^"]+)"', text)
    assert match

    css = await client.get(match.group(1))

    assert css.status_code == 200
    assert css.headers["content-type"].startswith("text/css")
