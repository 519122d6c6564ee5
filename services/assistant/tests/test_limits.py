"""Ask's concurrency cap and hostile input: RESOURCE_EXHAUSTED when every slot is taken, a clear
INVALID_ARGUMENT (or NOT_FOUND) for any id, query or question, control characters included."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import grpc
import pytest
from langchain_core.messages import AIMessageChunk
from langchain_core.runnables import Runnable

from folio.assistant.v1 import assistant_pb2
from folio_assistant.answer import Answerer, Chunk, Done, LlmSettings
from folio_assistant.ingest import Ingestion
from folio_assistant.retrieval import Retriever
from folio_assistant.servicer import AssistantServicer
from folio_platform.errors import field_violations
from folio_testing.issuer import TestIssuer

from .conftest import serving

if TYPE_CHECKING:
    from conftest import Backends

pytestmark = pytest.mark.timeout(900)


class HeldModel(Runnable[Any, AIMessageChunk]):
    """Test double of a LangChain chat model: writes one chunk, then holds the answer open until
    `release` is set (a slow model keeps its slot)."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.started = 0

    def invoke(self, input: Any, config: Any = None, **kwargs: Any) -> AIMessageChunk:
        raise NotImplementedError

    async def astream(self, input: Any, config: Any = None, **kwargs: Any) -> AsyncIterator[AIMessageChunk]:
        self.started += 1
        yield AIMessageChunk(content="Dracula [dracula] ")
        await self.release.wait()
        yield AIMessageChunk(content="is by Bram Stoker.")


@pytest.fixture
async def held(
    seed_retriever: Retriever, backends: Backends, embedder: Any, issuer: TestIssuer
) -> AsyncIterator[tuple[Any, HeldModel]]:
    """The assistant with one Ask slot and a model that answers only when released."""
    model = HeldModel()
    ingestion = Ingestion(
        catalog=backends.catalog_stub(),
        orders=None,
        embedder=embedder,
        vectors=seed_retriever.vectors,
        graph=seed_retriever.graph,
    )
    servicer = AssistantServicer(
        retriever=seed_retriever,
        answerer=Answerer(llm=model, settings=LlmSettings(model="held", timeout_seconds=60, max_tokens=50)),
        ingestion=ingestion,
        question_max_chars=500,
        ask_concurrency=1,
    )
    async with serving(servicer, issuer) as stub:
        yield stub, model


def ask(stub: Any, question: str = "Who wrote Dracula?") -> Any:
    return stub.Ask(assistant_pb2.AskRequest(question=question))


async def test_a_full_assistant_says_so_at_once_and_frees_the_slot(held: tuple[Any, HeldModel]) -> None:
    stub, model = held
    first = ask(stub)
    assert (await first.read()).chunk.text == "Dracula [dracula] "
    with pytest.raises(grpc.aio.AioRpcError) as busy:
        await ask(stub).read()
    assert busy.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "ask again in a few seconds" in (busy.value.details() or "")
    assert model.started == 1  # the refused question never reached the model

    model.release.set()
    events = [e async for e in first]
    assert [c.book_id for c in events[-1].done.citations] == ["dracula"]
    # The slot is back: so is one given up half-way (the caller hangs up).
    model.release.clear()
    abandoned = ask(stub)
    await abandoned.read()
    abandoned.cancel()
    model.release.set()
    events = []
    for _ in range(50):  # the server learns of the hang-up a moment later
        with contextlib.suppress(grpc.aio.AioRpcError):
            events = [e async for e in ask(stub)]
        if events:
            break
        await asyncio.sleep(0.1)
    assert events[-1].done.mode == assistant_pb2.ANSWER_MODE_LLM


HOSTILE = ["\x00", "moby\x00dick", "dracula\x1b[31m", "\x7f", "a\u0085b", "bad\u0007"]


@pytest.mark.parametrize("text", HOSTILE)
async def test_control_characters_are_invalid_argument_naming_the_field(
    held: tuple[Any, HeldModel], text: str
) -> None:
    stub, _ = held

    async def violation(call: Any) -> str:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await call
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        return field_violations(caught.value)[0][0]

    assert await violation(stub.SimilarBooks(assistant_pb2.SimilarBooksRequest(book_id=text))) == "book_id"
    assert await violation(stub.SemanticSearch(assistant_pb2.SemanticSearchRequest(query=text))) == "query"
    search_in = assistant_pb2.SemanticSearchRequest(query="whales", genre_id=text)
    assert await violation(stub.SemanticSearch(search_in)) == "genre_id"
    assert await violation(ask(stub, text).read()) == "question"


@pytest.mark.parametrize(
    "book_id", ["Moby-Dick", "moby dick", "../etc/passwd", "' OR 1=1 //", '"}) RETURN 1 //', "x" * 161]
)
async def test_ids_that_no_book_has_are_refused_before_any_store(
    held: tuple[Any, HeldModel], book_id: str
) -> None:
    stub, _ = held
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.SimilarBooks(assistant_pb2.SimilarBooksRequest(book_id=book_id))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "catalog id such as 'moby-dick'" in (caught.value.details() or "")


@pytest.mark.parametrize(
    "text", ["' OR 1=1 //", "MATCH (n) DETACH DELETE n", "\\", '"', "{}", "$id", "x\u202e"]
)
async def test_any_printable_text_gets_an_answer(held: tuple[Any, HeldModel], text: str) -> None:
    stub, model = held
    model.release.set()
    reply = await stub.SemanticSearch(assistant_pb2.SemanticSearchRequest(query=text, limit=3))
    assert len(reply.hits) <= 3
    events = [e async for e in ask(stub, text)]
    assert events[-1].HasField("done")


async def test_a_question_may_span_lines_but_a_search_is_one_line(held: tuple[Any, HeldModel]) -> None:
    stub, model = held
    model.release.set()
    events = [e async for e in ask(stub, "Who wrote\n\tDracula?")]
    assert events[-1].HasField("done")
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.SemanticSearch(assistant_pb2.SemanticSearchRequest(query="tab\there", limit=3))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert (caught.value.details() or "").startswith("query: must not contain control characters")


def _random_texts(count: int, *, seed: int = 17) -> list[str]:
    """Texts of 1-40 characters drawn from every plane and category a protobuf string can carry
    (controls, format and combining marks, private use, noncharacters, emoji), seeded."""
    rng = random.Random(seed)
    pools = [(0, 0x7F), (0x80, 0x2FF), (0x300, 0x36F), (0x2000, 0x206F), (0xE000, 0xF8FF), (0xFFF0, 0xFFFF),
             (0x1F300, 0x1FAFF), (0xE0000, 0xE007F), (0x10FFF0, 0x10FFFF), (0x4E00, 0x9FFF)]  # fmt: skip
    texts = []
    for _ in range(count):
        chars = [chr(rng.randint(*rng.choice(pools))) for _ in range(rng.randint(1, 40))]
        texts.append("".join(chars))
    return texts


async def test_no_text_in_any_field_fails_the_service(held: tuple[Any, HeldModel]) -> None:
    """Whatever the text, each RPC answers, or refuses it naming the field: never UNKNOWN or INTERNAL."""
    stub, model = held
    model.release.set()
    outcomes: dict[str, set[str]] = {}

    async def outcome(name: str, call: Any) -> None:
        try:
            await call
            result = "OK"
        except grpc.aio.AioRpcError as error:
            result = error.code().name
        outcomes.setdefault(name, set()).add(result)

    async def asked(text: str) -> None:
        events = [e async for e in ask(stub, text)]
        assert events[-1].HasField("done")

    for text in _random_texts(40):
        await outcome("question", asked(text))
        await outcome("query", stub.SemanticSearch(assistant_pb2.SemanticSearchRequest(query=text, limit=3)))
        await outcome("book_id", stub.SimilarBooks(assistant_pb2.SimilarBooksRequest(book_id=text)))
        search_in = assistant_pb2.SemanticSearchRequest(query="whales", genre_id=text, limit=3)
        await outcome("genre_id", stub.SemanticSearch(search_in))
    # Free text is answered or refused; ids are refused or not found.
    assert outcomes == {
        "question": {"OK", "INVALID_ARGUMENT"},
        "query": {"OK", "INVALID_ARGUMENT"},
        "book_id": {"INVALID_ARGUMENT"},
        "genre_id": {"INVALID_ARGUMENT"},
    }


class BrokenAnswerer(Answerer):
    """Test double of an answerer with a fault of its own: one chunk, then an exception."""

    async def answer(self, question: str, retrieval: Any) -> AsyncIterator[Chunk | Done]:
        yield Chunk("Dracula is ")
        raise RuntimeError("a bug")


async def test_a_fault_while_answering_is_unavailable_not_unknown(
    seed_retriever: Retriever, backends: Backends, embedder: Any, issuer: TestIssuer
) -> None:
    ingestion = Ingestion(
        catalog=backends.catalog_stub(), orders=None, embedder=embedder,
        vectors=seed_retriever.vectors, graph=seed_retriever.graph,
    )  # fmt: skip
    servicer = AssistantServicer(
        retriever=seed_retriever, answerer=BrokenAnswerer(), ingestion=ingestion, question_max_chars=500
    )
    async with serving(servicer, issuer) as stub:
        call = ask(stub)
        assert (await call.read()).chunk.text == "Dracula is "
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await call.read()
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    assert caught.value.details() == "answering failed: RuntimeError"
