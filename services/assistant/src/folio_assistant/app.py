"""The assistant as the platform runs it: embedder, vector index, graph and channels to the catalog
(and orders), with retrieval, answers and ingestion over them. Nothing happens at import."""

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import grpc

from folio.assistant.v1 import assistant_pb2, assistant_pb2_grpc
from folio.catalog.v1 import catalog_pb2, catalog_pb2_grpc
from folio.orders.v1 import orders_pb2, orders_pb2_grpc
from folio_assistant.answer import Answerer
from folio_assistant.embeddings import Embedder
from folio_assistant.graph import open_graph
from folio_assistant.ingest import Ingestion
from folio_assistant.llm import LiveModels
from folio_assistant.retrieval import Retriever
from folio_assistant.servicer import ACCESS, MULTILINE, AssistantServicer
from folio_assistant.settings import Settings
from folio_assistant.vectors import VectorIndex
from folio_platform.auth import ServiceTokens
from folio_platform.discovery import StaticDiscovery
from folio_platform.heap import release_freed_heap
from folio_platform.registry import ServiceChannel
from folio_platform.service import Runtime, Servicer, ServiceSpec, Serving, run_service

log = logging.getLogger(__name__)
SERVICE_NAME = assistant_pb2.DESCRIPTOR.services_by_name["AssistantService"].full_name
IDEMPOTENT = {
    "catalog": [catalog_pb2.DESCRIPTOR.services_by_name["CatalogService"].full_name],
    "orders": [
        f"{orders_pb2.DESCRIPTOR.services_by_name['OrdersService'].full_name}/ListCoPurchases",
    ],
}
START_INGEST_ATTEMPTS = 20
START_INGEST_RETRY_SECONDS = 3.0


async def ingest_until_done(ingestion: Ingestion) -> None:
    """The start-up ingestion: retried while the catalog is not up yet."""
    for _ in range(START_INGEST_ATTEMPTS):
        progress = await ingestion.start()
        if progress.phase == "done":
            return
        await asyncio.sleep(START_INGEST_RETRY_SECONDS)
    log.error("start-up ingestion gave up; run `folio ingest` once the catalog is up")


@asynccontextmanager
async def resources(runtime: Runtime[Settings]) -> AsyncIterator[Serving]:
    """The embedder, the vector index, the graph, channels to catalog (and orders), and the
    retrieval, answers and ingestion over them; the start-up ingestion runs in the background."""
    settings = runtime.settings
    root = settings.data_dir / "assistant"
    embedder = await asyncio.to_thread(Embedder, threads=settings.embedding_threads)
    api_key = settings.qdrant_api_key.get_secret_value() if settings.qdrant_api_key else None
    password = settings.graph_password.get_secret_value() if settings.graph_password else None
    static = StaticDiscovery(settings.service_addresses)
    async with contextlib.AsyncExitStack() as stack:
        # The registry's instances when there is one (the static addresses as fallback).
        discovery = await runtime.center.discovery(
            static, [n for n in IDEMPOTENT if n in settings.service_addresses]
        )
        vectors = VectorIndex.open(
            url=settings.qdrant_url, path=root / "qdrant", api_key=api_key, embedding=embedder
        )
        stack.push_async_callback(vectors.close)
        graph = await asyncio.to_thread(
            open_graph,
            url=settings.graph_url,
            directory=root / "graph",
            user=settings.graph_user,
            password=password,
        )
        stack.push_async_callback(graph.close)
        tokens = await stack.enter_async_context(ServiceTokens.from_settings(runtime.auth))
        channels: dict[str, grpc.aio.Channel] = {}
        for name, methods in IDEMPOTENT.items():
            if name in settings.service_addresses:
                channels[name] = ServiceChannel(
                    discovery,
                    name,
                    idempotent_services=methods,
                    retries=settings.client_retries,
                    default_timeout=settings.call_timeout_seconds,
                    telemetry=runtime.telemetry,
                    # As itself: catalog reads are public, orders' co-purchase pairs are not.
                    token_source=tokens.token,
                )
                stack.push_async_callback(channels[name].close, None)
        await vectors.ensure_collection()
        await graph.ensure_schema()
        retriever = Retriever(embedder=embedder, vectors=vectors, graph=graph)
        await retriever.refresh_names()
        models = LiveModels(settings, runtime.center.config)

        async def after_ingestion() -> None:
            await retriever.refresh_names()
            await asyncio.to_thread(embedder.shrink)
            release_freed_heap()

        ingestion = Ingestion(
            catalog=catalog_pb2_grpc.CatalogServiceStub(channels["catalog"]),
            orders=orders_pb2_grpc.OrdersServiceStub(channels["orders"]) if "orders" in channels else None,
            embedder=embedder,
            vectors=vectors,
            graph=graph,
            on_done=after_ingestion,
        )
        stack.push_async_callback(ingestion.stop)
        if settings.ingest_on_start and await ingestion.count_books() == 0:
            start_ingest = asyncio.create_task(ingest_until_done(ingestion))
            stack.push_async_callback(_cancel, start_ingest)
        servicer = AssistantServicer(
            retriever=retriever,
            answerer=Answerer(models=models),
            ingestion=ingestion,
            question_max_chars=settings.question_max_chars,
            ask_concurrency=settings.ask_max_concurrent,
        )
        # Loading the model (its int8 weights folded to float) leaves freed heap behind.
        release_freed_heap()
        log.info(
            "assistant ready",
            extra={
                "graph": graph.engine,
                "vectors": "server" if settings.qdrant_url else "local",
                "llm": models()[0] is not None,
            },
        )
        yield Serving(
            servicers=[
                Servicer(
                    SERVICE_NAME,
                    lambda s: assistant_pb2_grpc.add_AssistantServiceServicer_to_server(servicer, s),
                )
            ]
        )


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def spec() -> ServiceSpec[Settings]:
    return ServiceSpec(
        name="assistant", settings=Settings, access=ACCESS, resources=resources, multiline=MULTILINE
    )


def main() -> None:
    run_service(spec())
