"""Ingestion: catalog (and books bought together) over gRPC into the graph and the vector index.

Incremental: a book is (re)indexed only when its content hash differs from the one stored
with its vector or in the graph. Idempotent: graph writes are MERGEs and vector writes upserts
by a stable id. Resumable: both stores keep the hash with the book, so a crash between or during
their writes leaves the book looking unindexed and the next run redoes just the unfinished ones.

Fast: the next batch is embedded while the current one is written, and the graph and the
vector index take each batch at the same time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass, replace
from typing import Any

import grpc
from opentelemetry import metrics

from folio.catalog.v1 import catalog_pb2, catalog_pb2_grpc
from folio.orders.v1 import orders_pb2, orders_pb2_grpc
from folio_assistant.embeddings import Embedder, Vectors, model_of
from folio_assistant.graph import GraphStore, book_row
from folio_assistant.model import BookRecord, Genre
from folio_assistant.vectors import VectorIndex

log = logging.getLogger(__name__)
PAGE_SIZE = 100
BATCH = 64


@dataclass(frozen=True)
class Progress:
    phase: str = "idle"  # reading_catalog | indexing | orders | done | failed
    catalog_books: int = 0
    to_index: int = 0
    indexed: int = 0
    removed: int = 0
    purchase_pairs: int = 0
    note: str = ""

    @property
    def finished(self) -> bool:
        return self.phase in ("done", "failed")


async def read_catalog(catalog: catalog_pb2_grpc.CatalogServiceAsyncStub) -> list[BookRecord]:
    """Every book in the catalog, page by page, with its author's nationality."""
    nationality: dict[str, str] = {}
    token = ""
    while True:
        authors = await catalog.ListAuthors(
            catalog_pb2.ListAuthorsRequest(page_size=PAGE_SIZE, page_token=token)
        )
        nationality.update({a.id: a.nationality for a in authors.authors})
        token = authors.next_page_token
        if not token:
            break
    books: list[BookRecord] = []
    while True:
        page = await catalog.ListBooks(catalog_pb2.ListBooksRequest(page_size=PAGE_SIZE, page_token=token))
        books.extend(
            BookRecord(
                id=b.id,
                title=b.title,
                author_id=b.author.id,
                author_name=b.author.name,
                year=b.year,
                language=b.language,
                genres=tuple(Genre(g.id, g.name) for g in b.genres),
                description=b.description,
                author_nationality=nationality.get(b.author.id, ""),
            )
            for b in page.books
        )
        token = page.next_page_token
        if not token:
            return books


async def read_purchase_pairs(orders: orders_pb2_grpc.OrdersServiceAsyncStub) -> list[tuple[str, str, int]]:
    """(book a, book b, distinct confirmed orders holding both), a < b, as orders publishes them:
    aggregated pairs above its floor of supporting orders. No order, shopper or address is read."""
    pairs: list[tuple[str, str, int]] = []
    token = ""
    while True:
        page = await orders.ListCoPurchases(
            orders_pb2.ListCoPurchasesRequest(page_size=PAGE_SIZE, page_token=token)
        )
        pairs.extend((p.book_id_a, p.book_id_b, p.orders) for p in page.pairs)
        token = page.next_page_token
        if not token:
            return pairs


class Ingestion:
    """Runs one ingestion at a time; anyone may follow the current one's progress."""

    def __init__(
        self,
        *,
        catalog: catalog_pb2_grpc.CatalogServiceAsyncStub,
        orders: orders_pb2_grpc.OrdersServiceAsyncStub | None,
        embedder: Embedder,
        vectors: VectorIndex,
        graph: GraphStore,
        on_done: Callable[[], Coroutine[Any, Any, None]] | None = None,
        batch_size: int = BATCH,
    ) -> None:
        self._catalog = catalog
        self._orders = orders
        self._embedder = embedder
        self._vectors = vectors
        self._graph = graph
        self._on_done = on_done
        self._batch_size = batch_size
        self._task: asyncio.Task[Progress] | None = None
        self._changed = asyncio.Condition()
        self.progress = Progress()
        meter = metrics.get_meter("folio_assistant")
        self._indexed_counter = meter.create_counter(
            "folio.assistant.ingest.books", unit="{book}", description="books (re)indexed"
        )
        self._removed_counter = meter.create_counter(
            "folio.assistant.ingest.removed", unit="{book}", description="books removed from the index"
        )
        self.books_in_index = 0
        meter.create_observable_gauge(
            "folio.assistant.index.books",
            callbacks=[lambda _: [metrics.Observation(self.books_in_index)]],
            unit="{book}",
            description="books in the vector index (as of the start or the last ingestion)",
        )

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> asyncio.Task[Progress]:
        """Start an ingestion, or return the one already running."""
        if self._task is None or self._task.done():
            self.progress = Progress(phase="reading_catalog")
            self._task = asyncio.create_task(self._run(), name="ingest")
        return self._task

    async def follow(self) -> AsyncIterator[Progress]:
        """Progress of the current (or a new) ingestion until it finishes."""
        task = self.start()
        last: Progress | None = None
        while True:
            finished = task.done()
            current = self.progress
            if current != last:
                yield current
                last = current
            if finished:
                return
            async with self._changed:
                if self.progress == last:
                    # The timeout only guards against a missed wake-up; updates notify.
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(1.0):
                            await self._changed.wait()

    async def stop(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _report(self, **changes: Any) -> None:
        async with self._changed:
            self.progress = replace(self.progress, **changes)
            self._changed.notify_all()

    async def count_books(self) -> int:
        """Books in the vector index now (also what the index-size gauge reports)."""
        self.books_in_index = await self._vectors.count()
        return self.books_in_index

    async def _run(self) -> Progress:
        try:
            await self._index()
            await self._report(phase="done")
            await self.count_books()
        except Exception as error:
            log.exception("ingestion failed")
            await self._report(phase="failed", note=_describe(error))
        if self._on_done is not None:
            try:
                await self._on_done()
            except Exception:
                log.exception("after-ingestion refresh failed")
        log.info("ingestion finished", extra={"progress": self.progress.__dict__})
        return self.progress

    async def _index(self) -> None:
        books = await read_catalog(self._catalog)
        await self._vectors.ensure_collection()
        await self._graph.ensure_schema()
        indexed = await self._vectors.content_hashes()
        in_graph = await self._graph.content_hashes()
        # A book's stored hash is its content's and the embedding model's: a new model re-embeds every book.
        model = model_of(self._embedder)
        wanted = {b.id: (b, f"{b.content_hash()}@{model}") for b in books}
        # Both stores must hold the current content; a crash between them is repaired here.
        changed = [(b, h) for b, h in wanted.values() if indexed.get(b.id) != h or in_graph.get(b.id) != h]
        gone = sorted((set(indexed) | set(in_graph)) - set(wanted))
        await self._report(phase="indexing", catalog_books=len(books), to_index=len(changed))
        if gone:
            await self._vectors.delete_books(gone)
            await self._graph.delete_books(gone)
            self._removed_counter.add(len(gone))
            await self._report(removed=len(gone))
        # Shortest texts together: padding to the longest of a batch is cheaper.
        changed.sort(key=lambda pair: len(pair[0].passage()))
        batches = [changed[s : s + self._batch_size] for s in range(0, len(changed), self._batch_size)]
        done = 0
        # The next batch is embedded (onnxruntime, outside the GIL) while this one is written.
        embedding = self._embed(batches[0]) if batches else None
        try:
            for number, batch in enumerate(batches):
                assert embedding is not None
                vectors = await embedding
                embedding = self._embed(batches[number + 1]) if number + 1 < len(batches) else None
                await self._write(batch, vectors)
                done += len(batch)
                self._indexed_counter.add(len(batch))
                await self._report(indexed=done)
        finally:
            if embedding is not None:
                embedding.cancel()
        await self._report(phase="orders")
        if self._orders is None:
            await self._report(note="no orders address configured: no readers-also-bought from order history")
            return
        try:
            pairs = await read_purchase_pairs(self._orders)
        except grpc.aio.AioRpcError as error:
            await self._report(
                note=f"orders unavailable ({error.code().name}): readers-also-bought not updated"
            )
            return
        await self._graph.replace_bought_with(pairs)
        await self._report(purchase_pairs=len(pairs))

    def _embed(self, batch: list[tuple[BookRecord, str]]) -> asyncio.Future[Vectors]:
        return asyncio.ensure_future(asyncio.to_thread(self._embedder.embed, [b.passage() for b, _ in batch]))

    async def _write(self, batch: list[tuple[BookRecord, str]], vectors: Vectors) -> None:
        """One batch into both stores at once: the graph works in its own process meanwhile."""
        await asyncio.gather(
            self._graph.upsert_books([book_row(b, h) for b, h in batch]),
            self._vectors.upsert(
                [
                    (b.id, vector.tolist(), _payload(b, h))
                    for (b, h), vector in zip(batch, vectors, strict=True)
                ]
            ),
        )


def _payload(book: BookRecord, content_hash: str) -> dict[str, Any]:
    return {
        "hash": content_hash,
        "title": book.title,
        "author_name": book.author_name,
        "year": book.year,
        "genres": [g.id for g in book.genres],
        "genre_names": [g.name for g in book.genres],
    }


def _describe(error: Exception) -> str:
    if isinstance(error, grpc.aio.AioRpcError):
        return f"catalog unavailable ({error.code().name}): {error.details()}"
    return f"{type(error).__name__}: {error}"
