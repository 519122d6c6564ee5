"""Catalog fixtures: database URLs on SQLite and PostgreSQL, a small known catalog."""

import asyncio
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from folio.catalog.v1 import catalog_pb2_grpc
from folio_catalog.repository import AuthorRecord, BookRecord, GenreRecord, SqlCatalogRepository
from folio_catalog.seed import SeedCatalog
from folio_catalog.servicer import ACCESS, MULTILINE, CatalogServicer
from folio_catalog.tables import MIGRATIONS
from folio_platform.database import Database
from folio_platform.grpc_server import GrpcServer
from folio_platform.telemetry import Telemetry
from folio_testing.issuer import TestIssuer
from folio_testing.plugin import PostgresServer


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'catalog.db'}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty database on each backend the catalog supports."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'catalog.db'}"
    server: PostgresServer = request.getfixturevalue("postgres_server")
    return server.create_database()


# A small catalog whose answers are known: distinct years, distinct titles, one genre and
# one author with no books, and words placed so search ranking can be checked.
GENRES = [
    GenreRecord("adventure", "Adventure", "Voyages and quests."),
    GenreRecord("crime-mystery", "Crime & Mystery", "Detectives and puzzles."),
    GenreRecord("literary-fiction", "Literary Fiction", "Novels of character."),
    GenreRecord("philosophy", "Philosophy", "Arguments about how to live."),
    GenreRecord("poetry", "Poetry", "Verse."),
    GenreRecord("romance", "Romance", "Courtship and marriage."),
    GenreRecord("science-fiction", "Science Fiction", "Machines and marvels."),
]
AUTHORS = [
    AuthorRecord("herman-melville", "Herman Melville", 1819, 1891, "American", "Sailor and novelist."),
    AuthorRecord("jules-verne", "Jules Verne", 1828, 1905, "French", "Writer of extraordinary journeys."),
    AuthorRecord("arthur-conan-doyle", "Arthur Conan Doyle", 1859, 1930, "British", "Physician."),
    AuthorRecord("jane-austen", "Jane Austen", 1775, 1817, "British", "Novelist of manners."),
    AuthorRecord("thomas-hobbes", "Thomas Hobbes", 1588, 1679, "English", "Philosopher."),
    AuthorRecord("virginia-woolf", "Virginia Woolf", 1882, 1941, "British", "Modernist."),
    AuthorRecord("emily-dickinson", "Emily Dickinson", 1830, 1886, "American", "Poet."),
    AuthorRecord("charlotte-bronte", "Charlotte Bront\u00eb", 1816, 1855, "British", "Novelist."),
]
_AUTHOR_NAMES = {a.id: a.name for a in AUTHORS}
_GENRE_NAMES = {g.id: g.name for g in GENRES}


def _book(
    book_id: str,
    title: str,
    author_id: str,
    year: int,
    genres: list[str],
    description: str,
    *,
    price_minor: int = 999,
    stock: int = 5,
    featured: bool = False,
) -> BookRecord:
    return BookRecord(
        id=book_id,
        title=title,
        author_id=author_id,
        author_name=_AUTHOR_NAMES[author_id],
        year=year,
        language="en",
        genres=tuple((g, _GENRE_NAMES[g]) for g in genres),
        description=description,
        price_minor=price_minor,
        currency_code="USD",
        stock=stock,
        featured=featured,
    )


BOOKS = [
    _book(
        "moby-dick",
        "Moby-Dick",
        "herman-melville",
        1851,
        ["adventure", "literary-fiction"],
        "A whaling voyage ends in obsession as Captain Ahab hunts the white whale.",
        price_minor=1299,
        stock=12,
        featured=True,
    ),
    _book(
        "typee",
        "Typee",
        "herman-melville",
        1846,
        ["adventure"],
        "A sailor deserts his ship and lives among islanders in the Marquesas.",
    ),
    _book(
        "twenty-thousand-leagues-under-the-seas",
        "Twenty Thousand Leagues Under the Seas",
        "jules-verne",
        1870,
        ["science-fiction", "adventure"],
        "Professor Aronnax joins Captain Nemo aboard the Nautilus on a voyage beneath the oceans.",
        featured=True,
    ),
    _book(
        "journey-to-the-centre-of-the-earth",
        "Journey to the Centre of the Earth",
        "jules-verne",
        1864,
        ["science-fiction", "adventure"],
        "A professor and his nephew descend through an Icelandic volcano.",
    ),
    _book(
        "a-study-in-scarlet",
        "A Study in Scarlet",
        "arthur-conan-doyle",
        1887,
        ["crime-mystery"],
        "Sherlock Holmes and Doctor Watson meet and solve a murder in London.",
        featured=True,
    ),
    _book(
        "the-hound-of-the-baskervilles",
        "The Hound of the Baskervilles",
        "arthur-conan-doyle",
        1902,
        ["crime-mystery"],
        "Holmes investigates a family curse on the Devon moors.",
    ),
    _book(
        "pride-and-prejudice",
        "Pride and Prejudice",
        "jane-austen",
        1813,
        ["romance", "literary-fiction"],
        "Elizabeth Bennet and Mr Darcy misjudge each other in a country parish.",
    ),
    _book(
        "leviathan",
        "Leviathan",
        "thomas-hobbes",
        1651,
        ["philosophy"],
        "On the commonwealth, the sovereign and the social contract.",
    ),
    _book(
        "the-voyage-out",
        "The Voyage Out",
        "virginia-woolf",
        1915,
        ["literary-fiction"],
        "Rachel Vinrace sails to South America and finds her own mind.",
    ),
    _book(
        "jane-eyre",
        "Jane Eyre",
        "charlotte-bronte",
        1847,
        ["romance", "literary-fiction"],
        "An orphaned governess falls in love with her employer, whose fianc\u00e9e is not his first wife.",
    ),
]


@pytest.fixture
def fixture_catalog() -> SeedCatalog:
    """The small known catalog every repository and servicer fixture loads."""
    return SeedCatalog(list(GENRES), list(AUTHORS), list(BOOKS))


def _load_fixture_catalog(url: str) -> None:
    """Migrate `url` and load the fixture catalog into it, on a loop of its own."""

    async def load(database: Database) -> None:
        await SqlCatalogRepository(database).add_missing(genres=GENRES, authors=AUTHORS, books=BOOKS)

    with Database.open(url, MIGRATIONS) as database:
        asyncio.run(load(database))


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file holding the migrated fixture catalog, copied for each test."""
    path = tmp_path_factory.mktemp("catalog-template") / "catalog.db"
    _load_fixture_catalog(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def postgres_template(postgres_server: PostgresServer) -> str:
    """A PostgreSQL database holding the migrated fixture catalog, used as a CREATE DATABASE template."""
    url = postgres_server.create_database()
    _load_fixture_catalog(url)
    return url.rsplit("/", 1)[1]


@pytest.fixture(scope="session")
def postgres_shared(postgres_server: PostgresServer, postgres_template: str) -> str:
    """A read-only copy of the fixture catalog that read-only tests share (a database costs ~0.4 s)."""
    url = postgres_server.create_database(template=postgres_template)
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(postgres_server.admin_conninfo(), autocommit=True) as connection:
        connection.execute(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on')  # type: ignore[arg-type]
    return url


def _copy_sqlite_template(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    path = tmp_path / "catalog.db"
    shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
    return f"sqlite:///{path}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def loaded_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database holding the fixture catalog, on each backend; read-only on PostgreSQL, where it is shared."""
    if request.param == "sqlite":
        return _copy_sqlite_template(request, tmp_path)
    return str(request.getfixturevalue("postgres_shared"))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def writable_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database of this test's own holding the fixture catalog, on each backend."""
    if request.param == "sqlite":
        return _copy_sqlite_template(request, tmp_path)
    server: PostgresServer = request.getfixturevalue("postgres_server")
    return server.create_database(template=request.getfixturevalue("postgres_template"))


@pytest.fixture
def repository(loaded_database_url: str) -> Iterator[SqlCatalogRepository]:
    """The fixture catalog on every backend, for tests that only read."""
    with Database.connect(loaded_database_url) as database:
        yield SqlCatalogRepository(database)


@pytest.fixture
def writable_repository(writable_database_url: str) -> Iterator[SqlCatalogRepository]:
    """The fixture catalog in a database of this test's own, on every backend, for tests that write."""
    with Database.connect(writable_database_url) as database:
        yield SqlCatalogRepository(database)


@pytest.fixture
def sqlite_repository(sqlite_template: Path, tmp_path: Path) -> Iterator[SqlCatalogRepository]:
    """The fixture catalog in a SQLite file of this test's own."""
    path = tmp_path / "catalog.db"
    shutil.copyfile(sqlite_template, path)
    with Database.connect(f"sqlite:///{path}") as database:
        yield SqlCatalogRepository(database)


StartCatalog = Callable[[SqlCatalogRepository], Awaitable[GrpcServer]]


@pytest.fixture
async def start_catalog(issuer: TestIssuer) -> AsyncIterator[StartCatalog]:
    """`await start_catalog(repository)`: the real CatalogService over `repository`, on a free port,
    checking callers with its own access rules; stopped after the test."""
    servers: list[GrpcServer] = []

    async def start(repository: SqlCatalogRepository) -> GrpcServer:
        servicer = CatalogServicer(repository)
        server = GrpcServer(
            register=lambda s: catalog_pb2_grpc.add_CatalogServiceServicer_to_server(servicer, s),
            service_names=["folio.catalog.v1.CatalogService"],
            address="127.0.0.1:0",
            telemetry=Telemetry(enabled=False),
            auth=issuer.server_auth(ACCESS),
            grace_seconds=0.2,
            multiline=MULTILINE,
        )
        await server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        await server.server.stop(None)


async def search_ids(repository: SqlCatalogRepository, query: str, genre_id: str | None = None) -> list[str]:
    """The ids `query` finds, best first (every match on one page)."""
    page = await repository.search_books(query=query, offset=0, limit=100, genre_id=genre_id)
    assert page.total == len(page.items)
    return [b.id for b in page.items]
