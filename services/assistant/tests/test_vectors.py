"""The vector index on Qdrant local mode (the same client API as a Qdrant server)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from folio_assistant.embeddings import Embedder
from folio_assistant.vectors import Query

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
    everything, adventure, among, excluding = await stores.vectors.search(
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
    await stores.vectors.delete(["emma"])
    assert await stores.vectors.count() == 2
    assert await stores.vectors.vector_of("emma") is None
