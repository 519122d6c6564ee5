"""Catalog search, run against every backend: SQLite's FTS5 and PostgreSQL's full-text search rank,
stem, prefix-match and fold accents the same way."""

import pytest

from folio_catalog.repository import SqlCatalogRepository
from folio_catalog.seed import SeedCatalog

from .conftest import search_ids


async def test_search_title_match_outranks_description_match(repository: SqlCatalogRepository) -> None:
    found = await search_ids(repository, "voyage")
    assert found[0] == "the-voyage-out"
    assert set(found) == {"the-voyage-out", "moby-dick", "twenty-thousand-leagues-under-the-seas"}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("melville", {"moby-dick", "typee"}),
        ("Jules Verne", {"twenty-thousand-leagues-under-the-seas", "journey-to-the-centre-of-the-earth"}),
        ("conan doyle", {"a-study-in-scarlet", "the-hound-of-the-baskervilles"}),
    ],
)
async def test_search_by_author_name(
    repository: SqlCatalogRepository, query: str, expected: set[str]
) -> None:
    assert set(await search_ids(repository, query)) == expected


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("voyages", "the-voyage-out"),  # plural finds the singular in a title
        ("hunting", "moby-dick"),  # "hunts" in the description
        ("islander", "typee"),  # "islanders"
    ],
)
async def test_search_stems_words(repository: SqlCatalogRepository, query: str, expected: str) -> None:
    assert expected in await search_ids(repository, query)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("leviath", ["leviathan"]),
        ("baskerv", ["the-hound-of-the-baskervilles"]),
        ("sherlock hol", ["a-study-in-scarlet"]),
    ],
)
async def test_search_last_word_matches_as_prefix(
    repository: SqlCatalogRepository, query: str, expected: list[str]
) -> None:
    assert await search_ids(repository, query) == expected


async def test_search_earlier_words_are_not_prefixes(repository: SqlCatalogRepository) -> None:
    # "levia" finds Leviathan as the last word, but an earlier word must match whole.
    assert await search_ids(repository, "levia") == ["leviathan"]
    assert await search_ids(repository, "levia whale") == ["moby-dick"]


async def test_search_prefers_books_with_all_words(repository: SqlCatalogRepository) -> None:
    # Both books have "captain"; only Moby-Dick also has "whale".
    assert await search_ids(repository, "captain whale") == ["moby-dick"]
    assert set(await search_ids(repository, "captain")) == {
        "moby-dick",
        "twenty-thousand-leagues-under-the-seas",
    }


async def test_search_falls_back_to_any_word(repository: SqlCatalogRepository) -> None:
    # No book mentions both Nemo and Holmes: each book with either is still found.
    assert set(await search_ids(repository, "nemo holmes")) == {
        "twenty-thousand-leagues-under-the-seas",
        "a-study-in-scarlet",
        "the-hound-of-the-baskervilles",
    }


@pytest.mark.parametrize("query", ["bronte", "Bront\u00eb", "BRONTE", "fiancee", "fianc\u00e9e"])
async def test_search_ignores_accents(repository: SqlCatalogRepository, query: str) -> None:
    # The seed has Brontë, Eugénie, Salammbô...: a reader typing plain letters must find them.
    assert await search_ids(repository, query) == ["jane-eyre"]


async def test_search_within_a_genre(repository: SqlCatalogRepository) -> None:
    assert await search_ids(repository, "voyage", genre_id="science-fiction") == [
        "twenty-thousand-leagues-under-the-seas"
    ]
    assert await search_ids(repository, "voyage", genre_id="crime-mystery") == []
    assert await search_ids(repository, "voyage", genre_id="poetry") == []


async def test_search_pages(repository: SqlCatalogRepository) -> None:
    everything = await search_ids(repository, "voyage")
    first = await repository.search_books(query="voyage", offset=0, limit=2)
    second = await repository.search_books(query="voyage", offset=2, limit=2)
    assert first.total == second.total == 3
    assert [b.id for b in [*first.items, *second.items]] == everything


async def test_search_without_a_match_is_empty(repository: SqlCatalogRepository) -> None:
    page = await repository.search_books(query="zeppelin", offset=0, limit=10)
    assert page.items == []
    assert page.total == 0


@pytest.mark.parametrize("query", ["", "   ", "?!", "... -- !!! ()", '"*"', "&|!:*"])
async def test_search_of_only_punctuation_is_empty(repository: SqlCatalogRepository, query: str) -> None:
    page = await repository.search_books(query=query, offset=0, limit=10)
    assert page.items == []
    assert page.total == 0


@pytest.mark.parametrize(
    "query",
    [
        '"; DROP TABLE books; --',
        "' OR 1=1 --",
        "title:foo",
        "author:melville",
        "NEAR(",
        "NEAR(whale captain, 2)",
        "whale AND NOT captain",
        "AND OR NOT",
        "moby*",
        "-whale",
        "^whale",
        "whale:*",
        "whale & !captain | (nemo",
        "'s",
        "_",
        "__init__",
        "snake_case words",
        "o'clock",
        "\\",
        "caf\u00e9 na\u00efve",
        "\u4e66",
        "1851",
    ],
)
async def test_search_with_operator_characters_does_not_fail(
    repository: SqlCatalogRepository, fixture_catalog: SeedCatalog, query: str
) -> None:
    page = await repository.search_books(query=query, offset=0, limit=10)
    assert page.total >= len(page.items)
    assert (await repository.list_books(offset=0, limit=1)).total == len(fixture_catalog.books)


async def test_search_treats_operator_words_as_words(repository: SqlCatalogRepository) -> None:
    # "title:scarlet" is the two words "title" and "scarlet", not a column filter.
    assert await search_ids(repository, "title:scarlet") == ["a-study-in-scarlet"]
    assert "moby-dick" in await search_ids(repository, "moby*")
