"""The storefront against a real catalog: an in-process gRPC server over a SQLite file of known books."""

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from folio.catalog.v1 import catalog_pb2, catalog_pb2_grpc
from folio_catalog.repository import AuthorRecord, BookRecord, GenreRecord, SqlCatalogRepository
from folio_catalog.servicer import ACCESS as CATALOG_ACCESS
from folio_catalog.servicer import CatalogServicer
from folio_catalog.tables import MIGRATIONS
from folio_platform.auth import AuthSettings
from folio_platform.database import Database
from folio_platform.discovery import StaticDiscovery
from folio_platform.grpc_server import GrpcServer
from folio_platform.telemetry import Telemetry
from folio_storefront.app import create_app
from folio_storefront.settings import Settings
from folio_testing.issuer import TestIssuer
from folio_testing.plugin import free_port

CATALOG_SERVICE = catalog_pb2.DESCRIPTOR.services_by_name["CatalogService"].full_name

# A small catalog whose answers are known: distinct titles and years, a genre and an author
# without books, a book out of stock, a BCE year, and "whale" placed in a title and in a
# description whose title sorts first, so ranking (not title order) decides search results.
GENRES = [
    GenreRecord("adventure", "Adventure", "Voyages, quests and narrow escapes."),
    GenreRecord("crime-mystery", "Crime & Mystery", "Detectives and puzzles."),
    GenreRecord("mythology-epic", "Myth & Epic", "Epics, sagas and legends."),
    GenreRecord("poetry", "Poetry", "Verse, from sonnets to epics."),
    GenreRecord("romance", "Romance", "Courtship and the heart's complications."),
    GenreRecord("science-fiction", "Science Fiction", "Machines, futures and what-ifs."),
]
AUTHORS = [
    AuthorRecord("herman-melville", "Herman Melville", 1819, 1891, "American", "Sailor turned novelist."),
    AuthorRecord("jules-verne", "Jules Verne", 1828, 1905, "French", "Writer of extraordinary voyages."),
    AuthorRecord("arthur-conan-doyle", "Arthur Conan Doyle", 1859, 1930, "British", "Physician and author."),
    AuthorRecord("jane-austen", "Jane Austen", 1775, 1817, "English", "Novelist of manners."),
    AuthorRecord("homer", "Homer", None, None, "Greek", "The poet to whom the Greek epics are ascribed."),
    AuthorRecord("emily-dickinson", "Emily Dickinson", 1830, 1886, "American", "Poet of Amherst."),
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
        "Moby-Dick; or, The Whale",
        "herman-melville",
        1851,
        ["adventure"],
        "Captain Ahab hunts the white whale that took his leg.",
        price_minor=1299,
        stock=12,
        featured=True,
    ),
    _book("typee", "Typee", "herman-melville", 1846, ["adventure"], "A sailor lives among islanders."),
    _book(
        "bartleby-the-scrivener",
        "Bartleby, the Scrivener",
        "herman-melville",
        1853,
        ["adventure"],
        "A copyist who would prefer not to.",
        stock=0,
    ),
    _book(
        "journey-to-the-centre-of-the-earth",
        "Journey to the Centre of the Earth",
        "jules-verne",
        1864,
        ["science-fiction", "adventure"],
        "A professor descends through a volcano and watches sea monsters fight like a whale and a shark.",
        price_minor=1000,
    ),
    _book(
        "twenty-thousand-leagues-under-the-seas",
        "Twenty Thousand Leagues Under the Seas",
        "jules-verne",
        1870,
        ["science-fiction", "adventure"],
        "Captain Nemo takes his prisoners beneath the oceans in the Nautilus.",
        featured=True,
    ),
    _book(
        "around-the-world-in-eighty-days",
        "Around the World in Eighty Days",
        "jules-verne",
        1872,
        ["adventure"],
        "Phileas Fogg wagers he can circle the globe.",
    ),
    _book(
        "a-study-in-scarlet",
        "A Study in Scarlet",
        "arthur-conan-doyle",
        1887,
        ["crime-mystery"],
        "Sherlock Holmes and Doctor Watson meet over a murder.",
        featured=True,
    ),
    _book(
        "the-hound-of-the-baskervilles",
        "The Hound of the Baskervilles",
        "arthur-conan-doyle",
        1902,
        ["crime-mystery"],
        "A family curse on the Devon moors.",
    ),
    _book(
        "pride-and-prejudice",
        "Pride and Prejudice",
        "jane-austen",
        1813,
        ["romance"],
        "Elizabeth Bennet and Mr Darcy misjudge each other.",
    ),
    _book("emma", "Emma", "jane-austen", 1815, ["romance"], "A matchmaker learns her own heart."),
    _book(
        "the-odyssey",
        "The Odyssey",
        "homer",
        -725,
        ["mythology-epic", "adventure"],
        "Odysseus takes ten years to sail home from Troy.",
        price_minor=5,
    ),
    _book(
        "the-iliad",
        "The Iliad",
        "homer",
        -750,
        ["mythology-epic"],
        "The wrath of Achilles in the last year of the Trojan War.",
    ),
]


@dataclass(frozen=True)
class KnownCatalog:
    """What the catalog holds, so tests derive expected answers instead of hard-coding them."""

    genres: list[GenreRecord]
    authors: list[AuthorRecord]
    books: list[BookRecord]

    def book(self, book_id: str) -> BookRecord:
        return next(b for b in self.books if b.id == book_id)

    def author(self, author_id: str) -> AuthorRecord:
        return next(a for a in self.authors if a.id == author_id)

    def genre(self, genre_id: str) -> GenreRecord:
        return next(g for g in self.genres if g.id == genre_id)

    def in_genre(self, genre_id: str) -> list[BookRecord]:
        return [b for b in self.books if genre_id in {g for g, _ in b.genres}]

    def by_author(self, author_id: str) -> list[BookRecord]:
        return [b for b in self.books if b.author_id == author_id]


@pytest.fixture(scope="session")
def known() -> KnownCatalog:
    return KnownCatalog(list(GENRES), list(AUTHORS), list(BOOKS))


@pytest.fixture(scope="session")
def catalog_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A migrated SQLite catalog holding the fixture books (the storefront only reads it)."""
    url = f"sqlite:///{tmp_path_factory.mktemp('catalog') / 'catalog.db'}"
    with Database.open(url, MIGRATIONS) as database:
        repository = SqlCatalogRepository(database)
        added = asyncio.run(repository.add_missing(genres=GENRES, authors=AUTHORS, books=BOOKS))
    assert added == len(BOOKS)
    return url


class CatalogServer:
    """The real catalog gRPC service in this process; can be stopped and started again on its port."""

    def __init__(self, url: str, issuer: TestIssuer) -> None:
        self.url = url
        self.issuer = issuer
        self.port = 0
        self._server: GrpcServer | None = None
        self._database: Database | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def start(self) -> None:
        self._database = Database.connect(self.url)
        servicer = CatalogServicer(SqlCatalogRepository(self._database))
        self._server = GrpcServer(
            register=lambda s: catalog_pb2_grpc.add_CatalogServiceServicer_to_server(servicer, s),
            service_names=[CATALOG_SERVICE],
            address=f"127.0.0.1:{self.port}",
            telemetry=Telemetry(enabled=False),
            auth=self.issuer.server_auth(CATALOG_ACCESS),
            grace_seconds=0.5,
        )
        self.port = self._server.port
        await self._server.start()

    async def stop(self) -> None:
        if self._server is not None:
            await self._server.stop()
            self._server = None
        if self._database is not None:
            self._database.close()
            self._database = None


@pytest.fixture
async def catalog_server(catalog_url: str, issuer: TestIssuer) -> AsyncIterator[CatalogServer]:
    server = CatalogServer(catalog_url, issuer)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@asynccontextmanager
async def running(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """A client for `app` with its lifespan running, as uvicorn would run it."""
    # raise_app_exceptions=False: an unexpected error must show as the 500 a user would get.
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://storefront.test") as client,
    ):
        yield client


# A test-only signing key; real deployments get theirs from a secret store.
TEST_SESSION_SECRET = "storefront-tests-" + "s" * 32
# Deadlines far above any answer on a loaded two-core machine (the defaults are 3 s and 1.5 s), so a
# busy machine never turns a slow answer into a 503: only a test about a dependency down meets one.
REQUEST_BUDGET_SECONDS = 20.0
BACKEND_TIMEOUT_SECONDS = 10.0


def storefront_app(issuer: TestIssuer, catalog_address: str, data_dir: Path, **backends: str) -> FastAPI:
    """The storefront wired to `catalog_address` and `issuer`, its sessions in SQLite under
    `data_dir`; cart and orders default to a closed port."""
    addresses = {
        "catalog": catalog_address,
        "cart": f"127.0.0.1:{free_port()}",
        "orders": f"127.0.0.1:{free_port()}",
    }
    addresses |= backends
    settings = Settings(
        service_addresses=addresses,
        session_secret=TEST_SESSION_SECRET,
        data_dir=data_dir,
        request_timeout_seconds=REQUEST_BUDGET_SECONDS,
        backend_timeout_seconds=BACKEND_TIMEOUT_SECONDS,
    )
    auth = AuthSettings(
        issuer_url=issuer.url,
        client_id="folio-storefront",
        client_secret=issuer.clients["folio-storefront"],
    )
    return create_app(settings, auth, discovery=StaticDiscovery(addresses))


@pytest.fixture
async def client(
    catalog_server: CatalogServer, issuer: TestIssuer, tmp_path: Path
) -> AsyncIterator[httpx.AsyncClient]:
    """The storefront, lifespan running, wired to the live catalog."""
    async with running(storefront_app(issuer, catalog_server.address, tmp_path)) as c:
        yield c


@pytest.fixture
async def client_without_catalog(issuer: TestIssuer, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    """The storefront with discovery pointing at a port where no catalog listens."""
    async with running(storefront_app(issuer, f"127.0.0.1:{free_port()}", tmp_path)) as c:
        yield c


@pytest.fixture
def storefront(
    issuer: TestIssuer, tmp_path: Path
) -> Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]:
    """`async with storefront(catalog_address, assistant=...)`: a running storefront wired as asked."""

    def build(catalog_address: str, **backends: str) -> AbstractAsyncContextManager[httpx.AsyncClient]:
        return running(storefront_app(issuer, catalog_address, tmp_path, **backends))

    return build
