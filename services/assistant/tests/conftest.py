"""Assistant fixtures: the real embedder and embedded stores, a test-double catalog and orders."""

import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import pytest

from folio.assistant.v1 import assistant_pb2_grpc
from folio.catalog.v1 import catalog_pb2, catalog_pb2_grpc
from folio.orders.v1 import orders_pb2, orders_pb2_grpc
from folio_assistant.embeddings import Embedder
from folio_assistant.falkordb_graph import EmbeddedFalkorDB
from folio_assistant.graph import FalkorRunner, GraphStore
from folio_assistant.retrieval import Retriever
from folio_assistant.servicer import ACCESS as ASSISTANT_ACCESS
from folio_assistant.servicer import MULTILINE, AssistantServicer
from folio_assistant.vectors import VectorIndex
from folio_catalog.servicer import ACCESS as CATALOG_ACCESS
from folio_orders.servicer import ACCESS as ORDERS_ACCESS
from folio_platform.grpc_server import GrpcServer
from folio_platform.telemetry import Telemetry
from folio_testing.issuer import TestIssuer


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    return Embedder()


@dataclass
class Stores:
    vectors: VectorIndex
    graph: GraphStore


@pytest.fixture(scope="module")
def falkordb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedFalkorDB]:
    """One embedded FalkorDB per module (starting its redis-server takes a second or more), stopped
    after the module."""
    server = EmbeddedFalkorDB(tmp_path_factory.mktemp("falkordb") / "graph.rdb", append_only=False)
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
async def stores(tmp_path: Path, falkordb: EmbeddedFalkorDB, embedder: Embedder) -> AsyncIterator[Stores]:
    """An empty vector index (Qdrant local mode) and graph (a fresh graph in the module's embedded
    FalkorDB) for one test."""
    vectors = VectorIndex.open(url=None, path=tmp_path / "assistant" / "qdrant", embedding=embedder)
    graph = GraphStore(FalkorRunner(falkordb.graph(f"test-{uuid.uuid4().hex}")))
    await vectors.ensure_collection()
    await graph.ensure_schema()
    try:
        yield Stores(vectors, graph)
    finally:
        await vectors.close()
        await graph.close()


@pytest.fixture(scope="module")
def seed_index_dir(
    install_assistant_index: Callable[[Path], Path], tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """A private copy of the session's seed-catalog index."""
    return install_assistant_index(tmp_path_factory.mktemp("assistant-data"))


@pytest.fixture(scope="module")
def seed_falkordb(seed_index_dir: Path) -> Iterator[EmbeddedFalkorDB]:
    """The embedded FalkorDB of the module's seed index, started once per module: its redis-server
    takes a second to start and seconds to shut down, which every test would otherwise pay."""
    server = EmbeddedFalkorDB(seed_index_dir / "assistant" / "graph" / "graph.rdb")
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
async def seed_retriever(
    seed_index_dir: Path, seed_falkordb: EmbeddedFalkorDB, embedder: Embedder
) -> AsyncIterator[Retriever]:
    """Retrieval over the ingested seed catalog (1,109 real books), as `open_graph` opens it."""
    vectors = VectorIndex.open(url=None, path=seed_index_dir / "assistant" / "qdrant", embedding=embedder)
    graph = GraphStore(FalkorRunner(seed_falkordb.graph("folio")))
    retriever = Retriever(embedder=embedder, vectors=vectors, graph=graph)
    await retriever.refresh_names()
    try:
        yield retriever
    finally:
        await vectors.close()
        await graph.close()


def book(
    book_id: str,
    title: str,
    author: tuple[str, str],
    year: int,
    genres: list[tuple[str, str]],
    description: str,
) -> catalog_pb2.Book:
    return catalog_pb2.Book(
        id=book_id,
        title=title,
        author=catalog_pb2.AuthorRef(id=author[0], name=author[1]),
        year=year,
        language="en",
        genres=[catalog_pb2.GenreRef(id=g, name=n) for g, n in genres],
        description=description,
    )


MELVILLE = ("herman-melville", "Herman Melville")
AUSTEN = ("jane-austen", "Jane Austen")
VERNE = ("jules-verne", "Jules Verne")
SMALL_CATALOG = [
    book("moby-dick", "Moby-Dick", MELVILLE, 1851, [("adventure", "Adventure")],
         "Captain Ahab hunts the white whale that took his leg across the oceans, dooming his ship."),
    book("typee", "Typee", MELVILLE, 1846, [("adventure", "Adventure"), ("travel", "Travel")],
         "A sailor deserts his whaling ship and lives among islanders in the Marquesas."),
    book("emma", "Emma", AUSTEN, 1815, [("romance", "Romance")],
         "A clever young woman plays matchmaker in an English village and misreads everyone."),
    book("persuasion", "Persuasion", AUSTEN, 1817, [("romance", "Romance")],
         "Years after breaking an engagement, Anne Elliot meets the naval captain she refused."),
    book("twenty-thousand-leagues", "Twenty Thousand Leagues Under the Sea", VERNE, 1870,
         [("science-fiction", "Science Fiction"), ("adventure", "Adventure")],
         "Captain Nemo's submarine Nautilus carries three captives through the world's oceans."),
]  # fmt: skip


class FakeCatalog(catalog_pb2_grpc.CatalogServiceServicer):
    """Test double of the catalog's list RPCs over a list the test may change; tokens are offsets."""

    def __init__(self, books: list[catalog_pb2.Book]) -> None:
        self.books = list(books)
        self.calls = 0
        self.fail = False

    async def ListBooks(self, request: Any, context: Any) -> catalog_pb2.ListBooksResponse:
        self.calls += 1
        if self.fail:
            await context.abort(grpc.StatusCode.UNAVAILABLE, "catalog is down (test)")
        start = int(request.page_token or 0)
        end = start + (request.page_size or 20)
        token = str(end) if end < len(self.books) else ""
        return catalog_pb2.ListBooksResponse(
            books=self.books[start:end], next_page_token=token, total_size=len(self.books)
        )

    async def ListAuthors(self, request: Any, context: Any) -> catalog_pb2.ListAuthorsResponse:
        ids = sorted({(b.author.id, b.author.name) for b in self.books})
        return catalog_pb2.ListAuthorsResponse(
            authors=[catalog_pb2.Author(id=i, name=n, nationality="Testland") for i, n in ids]
        )


@dataclass
class FakeOrders(orders_pb2_grpc.OrdersServiceServicer):
    """Test double of the orders service's ListCoPurchases (tokens are offsets); behind the real
    orders access rules, so ListAllOrders is refused to the assistant as the real service refuses it."""

    pairs: list[orders_pb2.CoPurchase] = field(default_factory=list)

    async def ListCoPurchases(self, request: Any, context: Any) -> orders_pb2.ListCoPurchasesResponse:
        start = int(request.page_token or 0)
        end = start + (request.page_size or 20)
        token = str(end) if end < len(self.pairs) else ""
        return orders_pb2.ListCoPurchasesResponse(
            pairs=self.pairs[start:end], next_page_token=token, total_size=len(self.pairs)
        )


@dataclass
class Backends:
    catalog: FakeCatalog
    orders: FakeOrders
    channel: grpc.aio.Channel
    address: str

    def catalog_stub(self) -> catalog_pb2_grpc.CatalogServiceStub:
        return catalog_pb2_grpc.CatalogServiceStub(self.channel)

    def orders_stub(self) -> orders_pb2_grpc.OrdersServiceStub:
        return orders_pb2_grpc.OrdersServiceStub(self.channel)


@pytest.fixture
async def backends(issuer: TestIssuer) -> AsyncIterator[Backends]:
    """A real gRPC server hosting the catalog and orders test doubles, checking callers as the real
    services do; the channel presents the assistant's own token."""
    catalog, orders = FakeCatalog(SMALL_CATALOG), FakeOrders()

    def register(server: grpc.aio.Server) -> None:
        catalog_pb2_grpc.add_CatalogServiceServicer_to_server(catalog, server)
        orders_pb2_grpc.add_OrdersServiceServicer_to_server(orders, server)

    server = GrpcServer(
        register=register,
        service_names=["folio.catalog.v1.CatalogService"],
        address="127.0.0.1:0",
        telemetry=Telemetry(enabled=False),
        auth=issuer.server_auth({**CATALOG_ACCESS, **ORDERS_ACCESS}),
        grace_seconds=0.1,
    )
    await server.start()
    channel = issuer.channel(server.port, issuer.service_token("folio-assistant"))
    try:
        yield Backends(catalog, orders, channel, f"127.0.0.1:{server.port}")
    finally:
        await channel.close()
        await server.server.stop(None)


@asynccontextmanager
async def serving(
    servicer: AssistantServicer, issuer: TestIssuer
) -> AsyncIterator[assistant_pb2_grpc.AssistantServiceStub]:
    """`servicer` on a real gRPC server with the platform's checks; the stub calls as an admin."""
    server = GrpcServer(
        register=lambda s: assistant_pb2_grpc.add_AssistantServiceServicer_to_server(servicer, s),
        service_names=["folio.assistant.v1.AssistantService"],
        address="127.0.0.1:0",
        telemetry=Telemetry(enabled=False),
        auth=issuer.server_auth(ASSISTANT_ACCESS),
        grace_seconds=0.1,
        multiline=MULTILINE,
    )
    await server.start()
    channel = issuer.channel(server.port, issuer.token("carol-id", roles=("customer", "catalog-admin")))
    try:
        yield assistant_pb2_grpc.AssistantServiceStub(channel)
    finally:
        await channel.close()
        await server.server.stop(None)
