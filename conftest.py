"""Repository-wide pytest setup: real PostgreSQL and Redis fixtures for every test suite, and the
assistant's index of the seed catalog (built once per session, shared by its tests and the e2e stack)."""

import asyncio
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

pytest_plugins = ["folio_testing.plugin"]


async def _index_seed_catalog(data_dir: Path) -> None:
    import grpc

    from folio.catalog.v1 import catalog_pb2_grpc
    from folio_assistant.embeddings import Embedder
    from folio_assistant.graph import open_graph
    from folio_assistant.ingest import Ingestion
    from folio_assistant.vectors import VectorIndex
    from folio_catalog import db
    from folio_catalog.app import load_seed
    from folio_catalog.repository import SqlCatalogRepository
    from folio_catalog.servicer import CatalogServicer
    from folio_platform.grpc_server import GrpcServer
    from folio_platform.telemetry import Telemetry

    url = f"sqlite:///{data_dir / 'catalog.db'}"
    await asyncio.to_thread(db.migrate, url)
    repository = SqlCatalogRepository(db.create_engine_for(url))
    await load_seed(repository)
    servicer = CatalogServicer(repository)
    server = GrpcServer(
        register=lambda s: catalog_pb2_grpc.add_CatalogServiceServicer_to_server(servicer, s),
        service_names=["folio.catalog.v1.CatalogService"],
        address="127.0.0.1:0",
        telemetry=Telemetry(enabled=False),
    )
    await server.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{server.port}")
    vectors = VectorIndex.open(url=None, path=data_dir / "assistant" / "qdrant")
    graph = await asyncio.to_thread(
        open_graph, url=None, directory=data_dir / "assistant" / "graph", user="", password=None
    )
    try:
        ingestion = Ingestion(
            catalog=catalog_pb2_grpc.CatalogServiceStub(channel),
            orders=None,
            embedder=Embedder(),
            vectors=vectors,
            graph=graph,
        )
        progress = await ingestion.start()
        assert progress.phase == "done", progress
    finally:
        await channel.close()
        await server.server.stop(None)
        await vectors.close()
        await graph.close()
        repository.close()


@pytest.fixture(scope="session")
def assistant_seed_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data dir whose `assistant/` holds the real ingestion of the 1,109 seed books (about a minute).

    Shared by every user: copy it with `install_assistant_index` rather than writing to it.
    """
    data_dir = tmp_path_factory.mktemp("assistant-seed-index")
    asyncio.run(_index_seed_catalog(data_dir))
    return data_dir


@pytest.fixture(scope="session")
def install_assistant_index(assistant_seed_index: Path) -> Callable[[Path], Path]:
    """Copies the seed index into a data dir (the layout `FOLIO_ASSISTANT_DATA_DIR` expects)."""

    def install(data_dir: Path) -> Path:
        shutil.copytree(assistant_seed_index / "assistant", data_dir / "assistant", dirs_exist_ok=True)
        return data_dir

    return install
