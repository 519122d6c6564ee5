"""The CatalogRepository contract, run against every backend: SQLite and a real PostgreSQL."""

import dataclasses

import pytest
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import text

from folio_catalog.repository import (
    AuthorRecord,
    BookOrder,
    BookRecord,
    GenreRecord,
    SqlCatalogRepository,
)
from folio_catalog.seed import SeedCatalog
from folio_catalog.tables import MIGRATIONS
from folio_platform.database import Database, create_engine_for, migrate

from .conftest import search_ids


def _ids(books: list[BookRecord]) -> list[str]:
    return [b.id for b in books]


def _expected_order(books: list[BookRecord], order: BookOrder) -> list[str]:
    keys = {
        BookOrder.TITLE: lambda b: (b.title, b.id),
        BookOrder.YEAR: lambda b: (b.year, b.title, b.id),
        BookOrder.YEAR_DESC: lambda b: (-b.year, b.title, b.id),
    }
    return [b.id for b in sorted(books, key=keys[order])]


# --- listing -------------------------------------------------------------------------------


async def test_list_books_pages_cover_the_catalog_in_title_order(
    repository: SqlCatalogRepository, fixture_catalog: SeedCatalog
) -> None:
    expected = _expected_order(fixture_catalog.books, BookOrder.TITLE)
    seen: list[str] = []
    for offset in range(0, len(expected), 4):
        page = await repository.list_books(offset=offset, limit=4)
        assert page.total == len(expected)
        assert len(page.items) == min(4, len(expected) - offset)
        seen += _ids(page.items)
    assert seen == expected


async def test_list_books_past_the_end_is_empty_but_keeps_the_total(
    repository: SqlCatalogRepository, fixture_catalog: SeedCatalog
) -> None:
    page = await repository.list_books(offset=len(fixture_catalog.books) + 5, limit=10)
    assert page.items == []
    assert page.total == len(fixture_catalog.books)


@pytest.mark.parametrize("order", list(BookOrder))
async def test_list_books_orders(
    repository: SqlCatalogRepository, fixture_catalog: SeedCatalog, order: BookOrder
) -> None:
    page = await repository.list_books(offset=0, limit=100, order=order)
    assert _ids(page.items) == _expected_order(fixture_catalog.books, order)


async def test_list_books_year_order_is_oldest_first(repository: SqlCatalogRepository) -> None:
    oldest_first = await repository.list_books(offset=0, limit=100, order=BookOrder.YEAR)
    newest_first = await repository.list_books(offset=0, limit=100, order=BookOrder.YEAR_DESC)
    years = [b.year for b in oldest_first.items]
    assert years == sorted(years)
    assert oldest_first.items[0].id == "leviathan"
    assert newest_first.items[0].id == "the-voyage-out"


@pytest.mark.parametrize("genre_id", ["adventure", "crime-mystery", "literary-fiction", "poetry"])
async def test_list_books_by_genre(
    repository: SqlCatalogRepository, fixture_catalog: SeedCatalog, genre_id: str
) -> None:
    in_genre = [b for b in fixture_catalog.books if genre_id in dict(b.genres)]
    page = await repository.list_books(offset=0, limit=100, genre_id=genre_id)
    assert _ids(page.items) == _expected_order(in_genre, BookOrder.TITLE)
    assert page.total == len(in_genre)


@pytest.mark.parametrize("author_id", ["herman-melville", "jules-verne", "emily-dickinson"])
async def test_list_books_by_author(
    repository: SqlCatalogRepository, fixture_catalog: SeedCatalog, author_id: str
) -> None:
    by_author = [b for b in fixture_catalog.books if b.author_id == author_id]
    page = await repository.list_books(offset=0, limit=100, author_id=author_id)
    assert _ids(page.items) == _expected_order(by_author, BookOrder.TITLE)
    assert page.total == len(by_author)


async def test_list_books_featured_only(
    repository: SqlCatalogRepository, fixture_catalog: SeedCatalog
) -> None:
    featured = [b for b in fixture_catalog.books if b.featured]
    assert featured
    page = await repository.list_books(offset=0, limit=100, featured_only=True)
    assert _ids(page.items) == _expected_order(featured, BookOrder.TITLE)
    assert all(b.featured for b in page.items)


async def test_list_books_filters_combine(repository: SqlCatalogRepository) -> None:
    page = await repository.list_books(
        offset=0, limit=100, genre_id="adventure", featured_only=True, order=BookOrder.YEAR
    )
    assert _ids(page.items) == ["moby-dick", "twenty-thousand-leagues-under-the-seas"]
    assert page.total == 2
    page = await repository.list_books(offset=1, limit=1, genre_id="adventure", author_id="jules-verne")
    assert page.total == 2
    assert _ids(page.items) == ["twenty-thousand-leagues-under-the-seas"]


# --- single books, genres, authors ----------------------------------------------------------


async def test_get_book_returns_every_field(
    repository: SqlCatalogRepository, fixture_catalog: SeedCatalog
) -> None:
    for book in fixture_catalog.books:
        assert await repository.get_book(book.id) == book


async def test_get_book_missing_is_none(repository: SqlCatalogRepository) -> None:
    assert await repository.get_book("no-such-book") is None


async def test_list_genres_counts_books_and_sorts_by_name(
    repository: SqlCatalogRepository, fixture_catalog: SeedCatalog
) -> None:
    genres = await repository.list_genres()
    assert [g.name for g in genres] == sorted(g.name for g in fixture_catalog.genres)
    counts = {g.id: g.book_count for g in genres}
    for genre in fixture_catalog.genres:
        assert counts[genre.id] == sum(genre.id in dict(b.genres) for b in fixture_catalog.books)
    assert counts["adventure"] == 4
    assert counts["poetry"] == 0
    descriptions = {g.id: g.description for g in genres}
    assert descriptions["philosophy"] == "Arguments about how to live."


async def test_genre_exists(repository: SqlCatalogRepository) -> None:
    assert await repository.genre_exists("poetry")
    assert not await repository.genre_exists("cookery")


async def test_list_authors_pages_by_name_with_book_counts(
    repository: SqlCatalogRepository, fixture_catalog: SeedCatalog
) -> None:
    expected = sorted(fixture_catalog.authors, key=lambda a: (a.name, a.id))
    seen: list[AuthorRecord] = []
    for offset in range(0, len(expected), 3):
        page = await repository.list_authors(offset=offset, limit=3)
        assert page.total == len(expected)
        seen += page.items
    assert [a.id for a in seen] == [a.id for a in expected]
    counts = {a.id: a.book_count for a in seen}
    for author in fixture_catalog.authors:
        assert counts[author.id] == sum(b.author_id == author.id for b in fixture_catalog.books)


async def test_get_author_with_book_count(repository: SqlCatalogRepository) -> None:
    melville = await repository.get_author("herman-melville")
    assert melville == AuthorRecord(
        "herman-melville", "Herman Melville", 1819, 1891, "American", "Sailor and novelist.", book_count=2
    )
    dickinson = await repository.get_author("emily-dickinson")
    assert dickinson is not None
    assert dickinson.book_count == 0


async def test_get_author_missing_is_none(repository: SqlCatalogRepository) -> None:
    assert await repository.get_author("no-such-author") is None


async def test_author_without_known_years(writable_repository: SqlCatalogRepository) -> None:
    anonymous = AuthorRecord("anonymous", "Anonymous")
    await writable_repository.add_missing(genres=[], authors=[anonymous], books=[])
    assert await writable_repository.get_author("anonymous") == anonymous


# --- add_missing ---------------------------------------------------------------------------


async def test_add_missing_is_idempotent(
    writable_repository: SqlCatalogRepository, fixture_catalog: SeedCatalog
) -> None:
    added = await writable_repository.add_missing(
        genres=fixture_catalog.genres, authors=fixture_catalog.authors, books=fixture_catalog.books
    )
    assert added == 0
    page = await writable_repository.list_books(offset=0, limit=100)
    assert page.total == len(fixture_catalog.books)
    assert len(await writable_repository.list_genres()) == len(fixture_catalog.genres)
    assert (await writable_repository.list_authors(offset=0, limit=100)).total == len(fixture_catalog.authors)


async def test_add_missing_leaves_existing_rows_alone(
    writable_repository: SqlCatalogRepository, fixture_catalog: SeedCatalog
) -> None:
    original = await writable_repository.get_book("moby-dick")
    assert original is not None
    changed = dataclasses.replace(original, stock=original.stock + 100, title="Moby-Dick; or, The Whale")
    renamed_genre = GenreRecord("adventure", "Derring-do")
    renamed_author = dataclasses.replace(fixture_catalog.authors[0], name="H. Melville")
    added = await writable_repository.add_missing(
        genres=[renamed_genre], authors=[renamed_author], books=[changed]
    )
    assert added == 0
    assert await writable_repository.get_book("moby-dick") == original
    assert {g.id: g.name for g in await writable_repository.list_genres()}["adventure"] == "Adventure"
    author = await writable_repository.get_author(renamed_author.id)
    assert author is not None
    assert author.name == "Herman Melville"


async def test_add_missing_adds_only_the_new_books(
    writable_repository: SqlCatalogRepository, fixture_catalog: SeedCatalog
) -> None:
    poet = AuthorRecord("walt-whitman", "Walt Whitman", 1819, 1892, "American", "Poet.")
    leaves = BookRecord(
        id="leaves-of-grass",
        title="Leaves of Grass",
        author_id=poet.id,
        author_name=poet.name,
        year=1855,
        language="en",
        genres=(("poetry", "Poetry"),),
        description="A song of the self, revised across a lifetime.",
        price_minor=850,
        currency_code="USD",
        stock=3,
    )
    added = await writable_repository.add_missing(
        genres=fixture_catalog.genres,
        authors=[*fixture_catalog.authors, poet],
        books=[*fixture_catalog.books, leaves],
    )
    assert added == 1
    assert await writable_repository.get_book("leaves-of-grass") == leaves
    assert (await writable_repository.list_books(offset=0, limit=1)).total == len(fixture_catalog.books) + 1
    # A book added later is searchable at once, by title and by its author's name.
    assert _ids((await writable_repository.search_books(query="grass", offset=0, limit=10)).items) == [
        "leaves-of-grass"
    ]
    assert _ids((await writable_repository.search_books(query="whitman", offset=0, limit=10)).items) == [
        "leaves-of-grass"
    ]


# --- migrations ----------------------------------------------------------------------------


async def test_migrate_twice_is_a_no_op(database_url: str, fixture_catalog: SeedCatalog) -> None:
    with Database.open(database_url, MIGRATIONS) as database:
        repo = SqlCatalogRepository(database)
        await repo.add_missing(
            genres=fixture_catalog.genres, authors=fixture_catalog.authors, books=fixture_catalog.books
        )
        migrate(database_url, MIGRATIONS)
        assert (await repo.list_books(offset=0, limit=1)).total == len(fixture_catalog.books)
        assert await search_ids(repo, "leviathan") == ["leviathan"]
    assert _applied_revisions(database_url) == [_head_revision()]


def _head_revision() -> str | None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return ScriptDirectory.from_config(config).get_current_head()


def _applied_revisions(url: str) -> list[str]:
    engine = create_engine_for(url)
    try:
        with engine.connect() as connection:
            return list(connection.execute(text("SELECT version_num FROM alembic_version")).scalars())
    finally:
        engine.dispose()


async def test_upgrading_an_existing_database_keeps_data_searchable(
    database_url: str, fixture_catalog: SeedCatalog
) -> None:
    # A database made by the first release, upgraded in place, finds what a new one finds.
    engine = create_engine_for(database_url)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    try:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "0001")
    finally:
        engine.dispose()
    with Database.connect(database_url) as database:
        old = SqlCatalogRepository(database)
        await old.add_missing(
            genres=fixture_catalog.genres, authors=fixture_catalog.authors, books=fixture_catalog.books
        )
    migrate(database_url, MIGRATIONS)
    assert _applied_revisions(database_url) == [_head_revision()]
    with Database.connect(database_url) as database:
        repo = SqlCatalogRepository(database)
        assert (await repo.list_books(offset=0, limit=1)).total == len(fixture_catalog.books)
        assert await search_ids(repo, "voyage") == await search_ids(repo, "voyages")
        assert await search_ids(repo, "fiancee") == ["jane-eyre"]
        assert set(await search_ids(repo, "herman melville")) == {"moby-dick", "typee"}
