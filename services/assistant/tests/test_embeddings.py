"""The packaged MiniLM on onnxruntime: shape, normalisation, meaning."""

import numpy as np
import pytest

from folio_assistant.embeddings import DIMENSIONS, Embedder


def test_vectors_are_unit_length_and_deterministic(embedder: Embedder) -> None:
    vectors = embedder.embed(["a whale hunt", "a short text", "a much longer text " * 20])
    assert vectors.shape == (3, DIMENSIONS)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert np.allclose(embedder.embed(["a whale hunt"])[0], vectors[0], atol=1e-5)  # padding changes nothing


def test_similar_meaning_scores_higher_without_shared_words(embedder: Embedder) -> None:
    query, whaling, regency = embedder.embed(
        [
            "a sea voyage that goes wrong",
            "A captain obsessively hunts a white whale, dooming his ship and crew.",
            "A young woman navigates marriage and class among the gentry.",
        ]
    )
    assert float(query @ whaling) > float(query @ regency) + 0.2


def test_no_texts_no_vectors(embedder: Embedder) -> None:
    assert embedder.embed([]).shape == (0, DIMENSIONS)


def test_the_embedder_is_a_langchain_embeddings(embedder: Embedder) -> None:
    texts = [f"book number {n} about whales" for n in range(70)]  # more than one batch
    vectors = embedder.embed_documents(texts)
    assert len(vectors) == 70
    assert vectors[69] == pytest.approx(embedder.embed_query(texts[69]), abs=1e-5)


def test_shrinking_the_arena_after_a_bulk_of_runs_changes_no_vector(embedder: Embedder) -> None:
    texts = ["A whaling voyage ends in disaster. " * 40, "a short one"]
    before = embedder.embed(texts)

    embedder.shrink()

    assert np.allclose(embedder.embed(texts), before, atol=1e-6)
