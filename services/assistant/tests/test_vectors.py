"""The vector index: LangChain's Qdrant vector store on Qdrant local mode (the same client API as a
Qdrant server), with Folio's batched reads and the in-memory copy kept in step with every write."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from qdrant_client import QdrantClient, models

from folio_assistant.embeddings import Embedder
from folio_assistant.vectors import Query, VectorIndex, point_id

if TYPE_CHECKING:
    from conftest import Stores

# The server's code path creates a payload index, which qdrant-client's in-memory engine ignores.
pytestmark = pytest.mark.filterwarnings("ignore:Payload indexes have no effect:UserWarning")


@pytest.fixture(params=["local", "server"])
async def vectors(
    request: pytest.FixtureRequest, stores: Stores, embedder: Embedder
) -> AsyncIterator[VectorIndex]:
    """Local mode with its in-memory copy; and the server's code path (every read a Qdrant call,
    Qdrant's own filters) on qdrant-client's in-memory engine, the nearest thing to a server here."""
    if request.param == "local":
        yield stores.vectors
        return
    index = VectorIndex(QdrantClient(location=":memory:"), embedding=embedder)
    await index.ensure_collection()
    try:
        yield index
    finally:
        await index.close()


TEXTS = {
    "moby-dick": ("A captain hunts a white whale across the oceans.", ["adventure"]),
    "emma": ("A young woman plays matchmaker in an English village.", ["romance"]),
    "nautilus": ("A submarine carries captives beneath the seas.", ["science-fiction", "adventure"]),
}


async def _fill(vectors: VectorIndex, embedder: Embedder) -> None:
    embedded = embedder.embed([t for t, _ in TEXTS.values()])
    await vectors.upsert(
        [
            (book_id, [float(x) for x in vector], {"hash": f"h-{book_id}", "genres": genres})
            for (book_id, (_, genres)), vector in zip(TEXTS.items(), embedded, strict=True)
        ]
    )


async def test_search_filters_and_batches(vectors: VectorIndex, embedder: Embedder) -> None:
    await _fill(vectors, embedder)
    vector = embedder.embed_one("whales and the sea")
    everything, adventure, among, excluding = await vectors.nearest(
        vector,
        [
            Query(limit=3),
            Query(limit=3, genre_id="adventure"),
            Query(limit=3, among=("emma",)),
            Query(limit=3, exclude="moby-dick"),
        ],
    )
    assert everything[0].book_id == "moby-dick"
    assert everything[0].score > everything[-1].score
    assert {h.book_id for h in adventure} == {"moby-dick", "nautilus"}
    assert [h.book_id for h in among] == ["emma"]
    assert "moby-dick" not in {h.book_id for h in excluding}
    assert everything[0].payload["hash"] == "h-moby-dick"


async def test_hashes_delete_and_stored_vectors(vectors: VectorIndex, embedder: Embedder) -> None:
    await _fill(vectors, embedder)
    assert await vectors.content_hashes() == {b: f"h-{b}" for b in TEXTS}
    stored = await vectors.vector_of("emma")
    assert stored is not None
    assert len(stored) == 384
    await vectors.delete_books(["emma"])
    assert await vectors.count() == 2
    assert await vectors.vector_of("emma") is None


async def test_it_is_a_langchain_vector_store(vectors: VectorIndex, embedder: Embedder) -> None:
    await _fill(vectors, embedder)
    docs = await vectors.as_retriever(search_kwargs={"k": 2}).ainvoke("a whaling captain at sea")
    assert docs[0].metadata["book_id"] == "moby-dick"
    assert docs[0].metadata["hash"] == "h-moby-dick"
    (nautilus, score), *_ = vectors.similarity_search_with_score(
        "submarine", k=1, filter=Query(limit=1, genre_id="science-fiction").filter()
    )
    assert nautilus.metadata["book_id"] == "nautilus"
    assert 0 < score <= 1


async def test_langchain_writes_and_deletes_reach_folio_reads(
    vectors: VectorIndex, embedder: Embedder
) -> None:
    await _fill(vectors, embedder)
    assert await vectors.count() == 3  # the in-memory copy is loaded
    [added] = await vectors.aadd_texts(
        ["A lighthouse keeper's family on a Scottish island."],
        metadatas=[{"book_id": "lighthouse", "hash": "h-lighthouse", "title": "To the Lighthouse"}],
    )
    [nearest] = await vectors.nearest(embedder.embed_query("a lighthouse on an island"), [Query(limit=1)])
    assert nearest[0].book_id == "lighthouse"
    assert (await vectors.content_hashes())["lighthouse"] == "h-lighthouse"
    await vectors.adelete([str(added)])
    assert "lighthouse" not in await vectors.content_hashes()
    assert await vectors.count() == 3


async def test_points_carry_langchains_layout(vectors: VectorIndex, embedder: Embedder) -> None:
    await _fill(vectors, embedder)
    [doc] = await vectors.aget_by_ids([point_id("emma")])
    assert doc.metadata["book_id"] == "emma"
    assert doc.metadata["genres"] == ["romance"]


async def test_points_of_an_older_layout_are_replaced_by_ingestion(
    tmp_path: Path, embedder: Embedder
) -> None:
    """A data dir written with the book fields at the top of the payload (no `metadata`): its points
    count as not indexed, and writing the book again replaces them, in the files and in memory."""
    [vector] = embedder.embed_documents([TEXTS["emma"][0]])
    old = QdrantClient(path=str(tmp_path))
    old.create_collection(
        "books", vectors_config=models.VectorParams(size=384, distance=models.Distance.COSINE)
    )
    old.upsert(
        "books",
        [models.PointStruct(id=point_id("emma"), vector=vector, payload={"book_id": "emma", "hash": "h"})],
    )
    old.close()
    index = VectorIndex.open(url=None, path=tmp_path, embedding=embedder)
    try:
        assert await index.content_hashes() == {}
        await index.upsert([("emma", vector, {"hash": "h-emma", "title": "Emma"})])
        [hits] = await index.nearest(vector, [Query(limit=5)])
        assert [h.book_id for h in hits] == ["emma"]
        assert await index.content_hashes() == {"emma": "h-emma"}
    finally:
        await index.close()
