"""The assistant's edge routes against a test-double AssistantService over real gRPC: REST shapes,
server-sent events, error mapping, and a shop that stays ready when the assistant is down."""

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from folio.assistant.v1 import assistant_pb2, assistant_pb2_grpc
from folio_assistant.servicer import ACCESS as ASSISTANT_ACCESS
from folio_platform.errors import InvalidArgument, NotFound, ResourceExhausted, to_status
from folio_platform.grpc_server import GrpcServer
from folio_platform.telemetry import Telemetry
from folio_testing.issuer import TestIssuer
from folio_testing.plugin import free_port


class FakeAssistant(assistant_pb2_grpc.AssistantServiceServicer):
    """Test double: canned hits and a canned streamed answer; records questions."""

    def __init__(self) -> None:
        self.questions: list[str] = []

    async def SemanticSearch(self, request: Any, context: Any) -> assistant_pb2.SemanticSearchResponse:
        if not request.query.strip():
            raise InvalidArgument("query", "must not be empty")
        hit = assistant_pb2.BookHit(
            book_id="moby-dick", title="Moby-Dick", author_name="Herman Melville", year=1851,
            genres=["Adventure"], score=0.61, reason="similar description",
        )  # fmt: skip
        return assistant_pb2.SemanticSearchResponse(hits=[hit][: request.limit or 10])

    async def SimilarBooks(self, request: Any, context: Any) -> assistant_pb2.SimilarBooksResponse:
        if request.book_id != "moby-dick":
            raise NotFound(f"book {request.book_id!r} is not in the assistant's index")
        hit = assistant_pb2.BookHit(
            book_id="typee", title="Typee", author_name="Herman Melville", reason="same author"
        )
        return assistant_pb2.SimilarBooksResponse(books=[hit])

    async def Ask(self, request: Any, context: Any) -> AsyncIterator[assistant_pb2.AskEvent]:
        if not request.question.strip():
            await context.abort_with_status(to_status(InvalidArgument("question", "must not be empty")))
        if request.question == "(all slots taken)":
            raise ResourceExhausted(
                "the assistant is answering 8 questions already; ask again in a few seconds"
            )
        self.questions.append(request.question)
        for text in ("Extractive answer. ", "Moby-Dick [moby-dick]."):
            yield assistant_pb2.AskEvent(chunk=assistant_pb2.AnswerChunk(text=text))
        citation = assistant_pb2.Citation(
            book_id="moby-dick", title="Moby-Dick", author_name="Herman Melville"
        )
        yield assistant_pb2.AskEvent(
            done=assistant_pb2.AnswerDone(citations=[citation], mode=assistant_pb2.ANSWER_MODE_EXTRACTIVE)
        )


@pytest.fixture
async def assistant_address(issuer: TestIssuer) -> AsyncIterator[str]:
    fake = FakeAssistant()
    server = GrpcServer(
        register=lambda s: assistant_pb2_grpc.add_AssistantServiceServicer_to_server(fake, s),
        service_names=["folio.assistant.v1.AssistantService"],
        address="127.0.0.1:0",
        telemetry=Telemetry(enabled=False),
        auth=issuer.server_auth(ASSISTANT_ACCESS),
        grace_seconds=0.1,
    )
    await server.start()
    try:
        yield f"127.0.0.1:{server.port}"
    finally:
        await server.server.stop(None)


@pytest.fixture
async def shop(
    catalog_server: Any, assistant_address: str, storefront: Any
) -> AsyncIterator[httpx.AsyncClient]:
    async with storefront(catalog_server.address, assistant=assistant_address) as client:
        yield client


def events(body: str) -> list[tuple[str, dict[str, Any]]]:
    parsed = []
    for block in body.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines())
        parsed.append((lines["event"], json.loads(lines["data"])))
    return parsed


async def test_semantic_search_returns_books_with_links(shop: httpx.AsyncClient) -> None:
    response = await shop.get("/api/v1/assistant/search", params={"q": "a sea voyage that goes wrong"})
    assert response.status_code == 200
    assert response.json()["books"][0] == {
        "id": "moby-dick", "title": "Moby-Dick", "author": "Herman Melville", "year": 1851,
        "genres": ["Adventure"], "score": 0.61, "reason": "similar description", "url": "/books/moby-dick",
    }  # fmt: skip


async def test_bad_queries_are_400_naming_the_parameter(shop: httpx.AsyncClient) -> None:
    blank = await shop.get("/api/v1/assistant/search", params={"q": "  "})
    assert blank.status_code == 400
    assert blank.json()["error"]["field"] == "q"
    assert (await shop.get("/api/v1/assistant/search", params={"q": "x", "limit": 0})).status_code == 400
    empty_question = await shop.get("/api/v1/assistant/ask", params={"q": " "})
    assert empty_question.status_code == 400
    assert empty_question.json()["error"]["field"] == "q"


async def test_ask_streams_chunks_then_citations_as_server_sent_events(shop: httpx.AsyncClient) -> None:
    response = await shop.get("/api/v1/assistant/ask", params={"q": "who hunts the whale?"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    received = events(response.text)
    assert [name for name, _ in received] == ["chunk", "chunk", "done"]
    assert (
        "".join(d["text"] for n, d in received if n == "chunk") == "Extractive answer. Moby-Dick [moby-dick]."
    )
    done = received[-1][1]
    assert done["mode"] == "extractive"
    assert done["citations"] == [
        {"id": "moby-dick", "title": "Moby-Dick", "author": "Herman Melville", "url": "/books/moby-dick"}
    ]


async def test_a_full_assistant_is_429_with_retry_after(shop: httpx.AsyncClient) -> None:
    busy = await shop.get("/api/v1/assistant/ask", params={"q": "(all slots taken)"})
    assert busy.status_code == 429
    assert busy.headers["retry-after"] == "5"
    assert busy.json()["error"] == {
        "code": "resource_exhausted",
        "message": "the assistant is answering 8 questions already; ask again in a few seconds",
        "dependency": "assistant",
    }


async def test_similar_books_and_unknown_book(shop: httpx.AsyncClient) -> None:
    similar = await shop.get("/api/v1/books/moby-dick/similar")
    assert [b["id"] for b in similar.json()["books"]] == ["typee"]
    assert (await shop.get("/api/v1/books/nope/similar")).status_code == 404


async def test_pages_ask_box_and_similar_books_section(shop: httpx.AsyncClient) -> None:
    page = await shop.get("/assistant", params={"q": "whales"})
    assert page.status_code == 200
    assert 'id="ask-form"' in page.text
    ask_js = await shop.get("/static/ask.js")
    assert "/static/ask.js" in page.text
    assert "/api/v1/assistant/ask" in ask_js.text
    book = await shop.get("/books/moby-dick")
    similar_js = await shop.get("/static/similar.js")
    assert 'data-book="moby-dick"' in book.text
    assert "/static/similar.js" in book.text
    assert "/similar?limit=6" in similar_js.text


async def test_assistant_down_is_503_and_the_shop_stays_ready(catalog_server: Any, storefront: Any) -> None:
    async with storefront(catalog_server.address, assistant=f"127.0.0.1:{free_port()}") as client:
        for path in (
            "/api/v1/assistant/search?q=whale",
            "/api/v1/assistant/ask?q=whale",
            "/api/v1/books/moby-dick/similar",
        ):
            response = await client.get(path)
            assert response.status_code == 503, path
            assert response.json()["error"]["dependency"] == "assistant"
        # Health probes have a 1 s budget; on a loaded machine the first may miss: readiness converges.
        for _ in range(10):
            ready = await client.get("/readyz")
            if ready.status_code == 200:
                break
        assert ready.status_code == 200
        assert ready.json()["status"] == "degraded"
        assert ready.json()["checks"]["assistant"] == "unavailable"
        assert (await client.get("/api/v1/books/moby-dick")).status_code == 200
