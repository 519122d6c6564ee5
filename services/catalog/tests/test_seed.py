"""The bundled seed catalog and the synthetic catalog used by benchmarks."""

import json
import re
import time
from importlib import resources

import pytest

from folio_catalog.repository import SqlCatalogRepository
from folio_catalog.seed import SeedCatalog, load_seed, load_seed_catalog, synthetic_catalog
from folio_catalog.servicer import ID_PATTERN
from folio_catalog.tables import MIGRATIONS
from folio_platform.database import Database

PUBLIC_DOMAIN_LAST_YEAR = 1929
MIN_FEATURED = 8


@pytest.fixture(scope="module")
def seed() -> SeedCatalog:
    return load_seed_catalog()


def test_seed_has_enough_books_with_unique_ids(seed: SeedCatalog) -> None:
    ids = [b.id for b in seed.books]
    assert len(ids) >= 500
    assert len(set(ids)) == len(ids)
    author_ids = [a.id for a in seed.authors]
    assert len(set(author_ids)) == len(author_ids)


def test_seed_ids_are_slugs_the_service_accepts(seed: SeedCatalog) -> None:
    bad = [
        i
        for i in [*(b.id for b in seed.books), *(a.id for a in seed.authors), *(g.id for g in seed.genres)]
        if not ID_PATTERN.fullmatch(i)
    ]
    assert bad == []


def test_every_book_references_a_known_author_and_genres(seed: SeedCatalog) -> None:
    authors = {a.id: a.name for a in seed.authors}
    genres = {g.id: g.name for g in seed.genres}
    for book in seed.books:
        assert authors.get(book.author_id) == book.author_name, book.id
        assert book.genres, f"{book.id} has no genre"
        for genre_id, name in book.genres:
            assert genres.get(genre_id) == name, f"{book.id}: unknown genre {genre_id!r}"
        assert len({g for g, _ in book.genres}) == len(book.genres), f"{book.id} repeats a genre"


def test_every_author_has_books(seed: SeedCatalog) -> None:
    with_books = {b.author_id for b in seed.books}
    assert [a.id for a in seed.authors if a.id not in with_books] == []


def test_books_are_public_domain_priced_and_described(seed: SeedCatalog) -> None:
    for book in seed.books:
        assert book.year <= PUBLIC_DOMAIN_LAST_YEAR, f"{book.id} ({book.year}) may not be public domain"
        assert book.price_minor > 0, book.id
        assert book.currency_code == "USD"
        assert book.stock >= 0, book.id
        assert book.title.strip(), book.id
        assert book.description.strip(), f"{book.id} has no description"
        assert re.fullmatch(r"[a-z]{2}", book.language), f"{book.id}: {book.language!r} is not ISO 639-1"


def test_authors_have_names_and_plausible_years(seed: SeedCatalog) -> None:
    for author in seed.authors:
        assert author.name.strip(), author.id
        if author.born is not None and author.died is not None:
            assert author.born < author.died, author.id


def test_every_genre_has_books(seed: SeedCatalog) -> None:
    used = {g for b in seed.books for g, _ in b.genres}
    assert [g.id for g in seed.genres if g.id not in used] == []


def test_featured_books_exist(seed: SeedCatalog) -> None:
    featured_file = resources.files("folio_catalog.seed").joinpath("data", "featured.json")
    featured = json.loads(featured_file.read_text(encoding="utf-8"))
    book_ids = {b.id for b in seed.books}
    assert [i for i in featured if i not in book_ids] == []
    assert len(set(featured)) == len(featured)
    assert len(featured) >= MIN_FEATURED, (
        f"featured.json lists {len(featured)} books; the home page needs {MIN_FEATURED}"
    )
    assert {b.id for b in seed.books if b.featured} == set(featured)


async def test_seed_loads_once(sqlite_url: str, seed: SeedCatalog) -> None:
    with Database.open(sqlite_url, MIGRATIONS) as database:
        repository = SqlCatalogRepository(database)
        assert await load_seed(repository) == len(seed.books)
        assert await load_seed(repository) == 0
        assert (await repository.list_books(offset=0, limit=1)).total == len(seed.books)
        counts = {g.id: g.book_count for g in await repository.list_genres()}
        for genre in seed.genres:
            assert counts[genre.id] == sum(genre.id in dict(b.genres) for b in seed.books)
        some = seed.books[len(seed.books) // 2]
        assert await repository.get_book(some.id) == some


async def test_seed_goes_in_batches_and_reports_each(sqlite_url: str, seed: SeedCatalog) -> None:
    with Database.open(sqlite_url, MIGRATIONS) as database:
        repository = SqlCatalogRepository(database)
        first_half = SeedCatalog(seed.genres, seed.authors, seed.books[:250])
        assert await load_seed(repository, first_half) == 250
        told: list[int] = []
        added = await load_seed(repository, seed, batch_size=400, progress=told.append)
        assert added == len(seed.books) - 250
        assert told == [400, 400, len(seed.books) - 800]
        assert (await repository.list_books(offset=0, limit=1)).total == len(seed.books)


# --- synthetic catalog ---------------------------------------------------------------------


SYNTHETIC_COUNT = 10_000


@pytest.fixture(scope="module")
def synthetic(seed: SeedCatalog) -> SeedCatalog:
    return synthetic_catalog(SYNTHETIC_COUNT, genres=seed.genres)


def test_synthetic_catalog_is_deterministic(seed: SeedCatalog, synthetic: SeedCatalog) -> None:
    assert synthetic_catalog(SYNTHETIC_COUNT, genres=seed.genres) == synthetic
    other = synthetic_catalog(SYNTHETIC_COUNT, seed=7, genres=seed.genres)
    assert [b.title for b in other.books] != [b.title for b in synthetic.books]


def test_synthetic_catalog_is_well_formed(seed: SeedCatalog, synthetic: SeedCatalog) -> None:
    assert len(synthetic.books) == SYNTHETIC_COUNT
    ids = [b.id for b in synthetic.books]
    assert len(set(ids)) == len(ids)
    assert all(i.startswith("synthetic-") and ID_PATTERN.fullmatch(i) for i in ids)
    assert not {b.id for b in seed.books} & set(ids)
    authors = {a.id: a.name for a in synthetic.authors}
    assert len(authors) == len(synthetic.authors)
    genres = {g.id for g in seed.genres}
    for book in synthetic.books:
        assert authors[book.author_id] == book.author_name
        assert book.genres
        assert {g for g, _ in book.genres} <= genres
        assert book.year <= PUBLIC_DOMAIN_LAST_YEAR
        assert book.price_minor > 0


async def test_synthetic_catalog_loads_into_sqlite(
    sqlite_url: str, seed: SeedCatalog, synthetic: SeedCatalog
) -> None:
    with Database.open(sqlite_url, MIGRATIONS) as database:
        repository = SqlCatalogRepository(database)
        started = time.perf_counter()
        added = await repository.add_missing(
            genres=seed.genres, authors=synthetic.authors, books=synthetic.books
        )
        elapsed = time.perf_counter() - started
        print(f"loaded {added} synthetic books into SQLite in {elapsed:.1f} s")
        assert added == SYNTHETIC_COUNT
        assert (await repository.list_books(offset=0, limit=1)).total == SYNTHETIC_COUNT
        last = synthetic.books[-1]
        assert await repository.get_book(last.id) == last
        found = await repository.search_books(query=last.title, offset=0, limit=5)
        assert found.items[0].id == last.id
