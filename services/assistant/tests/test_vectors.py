"""The vector index: LangChain's Qdrant vector store on Qdrant local mode (the same client API as a
Qdrant server), with Folio's batched reads and the in-memory copy kept in step with every write."""

from __future__ import annotations

from typing import TYPE_CHECKING

from folio_assistant.embeddings import Embedder
from folio_assistant.vectors import Query, point_id

if TYPE_CHECKING:
    from conftest import Stores

TEXTS = {
    "moby-dick": ("A captain hunts a white whale across the oceans.", ["adventure"]),
    "emma": ("A young woman plays matchmaker in an English village.", ["romance"]),
    "nautilus": ("A submarine carries captives beneath the seas.", ["science-fiction", "adventure"]),
}


async def _fill(stores: Stores, embedder: Embedder) -> None:
    vectors = embedder.embed([t for t, _ in TEXTS.values()])
    await stores.vectors.upsert(
        [
            (book_id, [float(x) for x in vector], {"hash": f"h-{book_id}", "genres": genres})
            for (book_id, (_, genres)), vector in zip(TEXTS.items(), vectors, strict=True)
        ]
    )


async def test_search_filters_and_batches(stores: Stores, embedder: Embedder) -> None:
    await _fill(stores, embedder)
    vector = embedder.embed_one("whales and the sea")
    everything, adventure, among, excluding = await stores.vectors.nearest(
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


async def test_hashes_delete_and_stored_vectors(stores: Stores, embedder: Embedder) -> None:
    await _fill(stores, embedder)
    assert await stores.vectors.content_hashes() == {b: f"h-{b}" for b in TEXTS}
    stored = await stores.vectors.vector_of("emma")
    assert stored is not None
    assert len(stored) == 384
    await stores.vectors.delete_books(["emma"])
    assert await stores.vectors.count() == 2
    assert await stores.vectors.vector_of("emma") is None


async def test_it_is_a_langchain_vector_store(stores: Stores, embedder: Embedder) -> None:
    await _fill(stores, embedder)
    docs = await stores.vectors.as_retriever(search_kwargs={"k": 2}).ainvoke("a whaling captain at sea")
    assert docs[0].metadata["book_id"] == "moby-dick"
    assert docs[0].metadata["hash"] == "h-moby-dick"
    (nautilus, score), *_ = stores.vectors.similarity_search_with_score(
        "submarine", k=1, filter=Query(limit=1, genre_id="science-fiction").filter()
    )
    assert nautilus.metadata["book_id"] == "nautilus"
    assert 0 < score <= 1


async def test_langchain_writes_and_deletes_reach_folio_reads(stores: Stores, embedder: Embedder) -> None:
    await _fill(stores, embedder)
    assert await stores.vectors.count() == 3  # the in-memory copy is loaded
    [added] = await stores.vectors.aadd_texts(
        ["A lighthouse keeper's family on a Scottish island."],
        metadatas=[{"book_id": "lighthouse", "hash": "h-lighthouse", "title": "To the Lighthouse"}],
    )
    [nearest] = await stores.vectors.nearest(
        embedder.embed_query("a lighthouse on an island"), [Query(limit=1)]
    )
    assert nearest[0].book_id == "lighthouse"
    assert (await stores.vectors.content_hashes())["lighthouse"] == "h-lighthouse"
    await stores.vectors.adelete([str(added)])
    assert "lighthouse" not in await stores.vectors.content_hashes()
    assert await stores.vectors.count() == 3


async def test_points_carry_langchains_layout(stores: Stores, embedder: Embedder) -> None:
    await _fill(stores, embedder)
    [doc] = await stores.vectors.aget_by_ids([point_id("emma")])
    assert doc.metadata["book_id"] == "emma"
    assert doc.metadata["genres"] == ["romance"]
