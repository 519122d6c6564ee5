"""Ingestion from a catalog over gRPC: incremental, idempotent, resumable, with order history."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING, Any

import grpc
import pytest

from folio.orders.v1 import orders_pb2
from folio_assistant.embeddings import Embedder
from folio_assistant.ingest import Ingestion, Progress, read_catalog

if TYPE_CHECKING:
    from conftest import Backends, Stores


def ingestion(backends: Backends, stores: Stores, embedder: Embedder, **kwargs: Any) -> Ingestion:
    return Ingestion(
        catalog=backends.catalog_stub(),
        orders=kwargs.pop("orders", backends.orders_stub()),
        embedder=embedder,
        vectors=kwargs.pop("vectors", stores.vectors),
        graph=stores.graph,
        batch_size=2,
        **kwargs,
    )


async def test_first_ingest_indexes_every_book_in_both_stores(
    backends: Backends, stores: Stores, embedder: Embedder
) -> None:
    progress = await ingestion(backends, stores, embedder).start()
    assert (progress.phase, progress.catalog_books, progress.to_index, progress.indexed) == ("done", 5, 5, 5)
    assert await stores.vectors.count() == 5
    assert await stores.graph.count_books() == 5
    facts = await stores.graph.facts(["moby-dick"])
    assert facts["moby-dick"].other_books_by_author == (("typee", "Typee"),)
    assert facts["moby-dick"].author_nationality == "Testland"


async def test_second_ingest_changes_nothing_and_reads_catalog_in_pages(
    backends: Backends, stores: Stores, embedder: Embedder
) -> None:
    run = ingestion(backends, stores, embedder)
    await run.start()
    backends.catalog.calls = 0
    again = await run.start()
    assert (again.to_index, again.indexed, again.removed) == (0, 0, 0)
    assert backends.catalog.calls == 1  # five books fit in one page of 100


async def test_only_changed_books_are_reindexed_and_deleted_ones_removed(
    backends: Backends, stores: Stores, embedder: Embedder
) -> None:
    run = ingestion(backends, stores, embedder)
    await run.start()
    books = {b.id: b for b in backends.catalog.books}
    del books["typee"]
    del books["emma"].genres[:]
    books["emma"].genres.add(id="humour-satire", name="Humour & Satire")
    backends.catalog.books = list(books.values())
    progress = await run.start()
    assert (progress.to_index, progress.indexed, progress.removed) == (1, 1, 1)
    facts = await stores.graph.facts(["emma", "moby-dick"])
    assert facts["emma"].genres == ("Humour & Satire",)  # the old genre relation is gone
    assert facts["moby-dick"].other_books_by_author == ()
    assert "typee" not in await stores.vectors.content_hashes()


async def test_a_new_embedding_model_re_embeds_every_book(
    backends: Backends, stores: Stores, embedder: Embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Vectors of two models are not comparable: an index made by another model is made again."""
    run = ingestion(backends, stores, embedder)
    await run.start()
    monkeypatch.setattr("folio_assistant.embeddings.MODEL_ID", "another-model")
    progress = await run.start()
    assert (progress.to_index, progress.indexed, progress.removed) == (5, 5, 0)
    assert all(h.endswith("@another-model") for h in (await stores.vectors.content_hashes()).values())


class FailingVectors:
    """Test double: the real index, failing the Nth upsert as a crash would interrupt it."""

    def __init__(self, real: Any, fail_on: int) -> None:
        self._real, self._fail_on, self._upserts = real, fail_on, 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    async def upsert(self, rows: Any) -> None:
        self._upserts += 1
        if self._upserts == self._fail_on:
            raise ConnectionError("vector store went away (test)")
        await self._real.upsert(rows)


async def test_an_interrupted_ingest_resumes_with_only_the_unfinished_books(
    backends: Backends, stores: Stores, embedder: Embedder
) -> None:
    crashed = await ingestion(backends, stores, embedder, vectors=FailingVectors(stores.vectors, 2)).start()
    assert crashed.phase == "failed"
    assert "ConnectionError" in crashed.note
    assert await stores.vectors.count() == 2  # the first batch of two made it
    resumed = await ingestion(backends, stores, embedder).start()
    assert (resumed.phase, resumed.to_index, resumed.indexed) == ("done", 3, 3)
    assert await stores.vectors.count() == 5


async def test_books_bought_together_become_graph_relations(
    backends: Backends, stores: Stores, embedder: Embedder
) -> None:
    # More than one page; pairs of books gone from the catalog find no node and are dropped.
    gone = [orders_pb2.CoPurchase(book_id_a=f"gone-{n}", book_id_b="moby-dick", orders=5) for n in range(150)]
    backends.orders.pairs = [
        orders_pb2.CoPurchase(book_id_a="emma", book_id_b="moby-dick", orders=7),
        *gone,
        orders_pb2.CoPurchase(book_id_a="moby-dick", book_id_b="typee", orders=5),
    ]
    progress = await ingestion(backends, stores, embedder).start()
    assert progress.purchase_pairs == 152
    facts = await stores.graph.facts(["moby-dick", "persuasion"])
    assert facts["moby-dick"].bought_with == (("emma", "Emma"), ("typee", "Typee"))
    assert facts["persuasion"].bought_with == ()


async def test_the_assistant_may_not_read_orders(backends: Backends) -> None:
    """Its account reaches the aggregated pairs only: every order, with emails and addresses, is refused."""
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await backends.orders_stub().ListAllOrders(orders_pb2.ListAllOrdersRequest(page_size=10))
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
    reply = await backends.orders_stub().ListCoPurchases(orders_pb2.ListCoPurchasesRequest())
    assert reply.total_size == 0


async def test_without_orders_the_ingest_still_finishes_and_says_so(
    backends: Backends, stores: Stores, embedder: Embedder
) -> None:
    progress = await ingestion(backends, stores, embedder, orders=None).start()
    assert progress.phase == "done"
    assert "readers-also-bought" in progress.note


async def test_catalog_down_fails_the_ingest_with_the_reason(
    backends: Backends, stores: Stores, embedder: Embedder
) -> None:
    backends.catalog.fail = True
    progress = await ingestion(backends, stores, embedder).start()
    assert progress.phase == "failed"
    assert "catalog unavailable (UNAVAILABLE)" in progress.note


async def test_followers_see_progress_to_the_end_and_share_one_run(
    backends: Backends, stores: Stores, embedder: Embedder
) -> None:
    run = ingestion(backends, stores, embedder)
    first: list[Progress] = []
    async for progress in run.follow():
        first.append(progress)
        if progress.phase == "indexing" and run.running:
            assert run.start() is run.start()  # a second request joins the running one
    assert first[-1].phase == "done"
    assert first[-1].indexed == 5
    assert first[0].phase in ("reading_catalog", "indexing")


@pytest.mark.parametrize("field", ["title", "description", "year"])
def test_content_hash_changes_with_indexed_content_only(field: str) -> None:
    from folio_assistant.model import BookRecord, Genre

    base = BookRecord("b", "T", "a", "A", 1900, "en", (Genre("g", "G"),), "D")
    changed = {"title": "T2", "description": "D2", "year": 1901}
    assert BookRecord(**{**base.__dict__, field: changed[field]}).content_hash() != base.content_hash()


async def test_each_book_keeps_the_vector_of_its_own_passage(
    backends: Backends, stores: Stores, embedder: Embedder
) -> None:
    """Batches are embedded ahead of their writes: no book may get another batch's vectors."""
    await ingestion(backends, stores, embedder).start()
    books = await read_catalog(backends.catalog_stub())
    stored = await stores.vectors.points([b.id for b in books])
    expected = embedder.embed([b.passage() for b in books])
    for book, vector in zip(books, expected, strict=True):
        assert float(stored[book.id][0] @ vector) > 0.999, book.id


async def test_the_local_vector_store_commits_without_a_sync_per_point(
    backends: Backends, stores: Stores, embedder: Embedder, tmp_path: Path
) -> None:
    """Qdrant local mode writes each point in its own transaction: write-ahead logging keeps that cheap."""
    await ingestion(backends, stores, embedder).start()
    storage = next((tmp_path / "assistant" / "qdrant").rglob("storage.sqlite"))
    with sqlite3.connect(storage) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)
