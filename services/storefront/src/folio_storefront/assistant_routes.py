"""The assistant at the edge: semantic search, answers streamed as server-sent events, similar
books, and the page that asks. Every route is public and read-only; the shop stays up (and
/readyz ready) when the assistant is down: these routes then answer 503 naming it."""

import json
from collections.abc import AsyncIterator
from typing import Annotated

import grpc
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, StreamingResponse
from pydantic import BaseModel

from folio.assistant.v1 import assistant_pb2
from folio_storefront.assistant_client import ASSISTANT, AssistantClient
from folio_storefront.deps import TemplatesDep
from folio_storefront.errors import ERROR_RESPONSES, DependencyUnavailable, ErrorBody

router = APIRouter()
MODES = {
    assistant_pb2.ANSWER_MODE_LLM: "llm",
    assistant_pb2.ANSWER_MODE_EXTRACTIVE: "extractive",
    assistant_pb2.ANSWER_MODE_NO_ANSWER: "no_answer",
}


async def _assistant(request: Request) -> AssistantClient:
    assistant: AssistantClient | None = request.app.state.assistant
    if assistant is None:
        raise DependencyUnavailable(ASSISTANT, detail="no assistant address is configured")
    return assistant


AssistantDep = Annotated[AssistantClient, Depends(_assistant)]


class BookHit(BaseModel):
    id: str
    title: str
    author: str
    year: int
    genres: list[str]
    score: float
    reason: str
    url: str


class BookHits(BaseModel):
    books: list[BookHit]


def _hits(hits: list[assistant_pb2.BookHit]) -> BookHits:
    return BookHits(
        books=[
            BookHit(
                id=h.book_id,
                title=h.title,
                author=h.author_name,
                year=h.year,
                genres=list(h.genres),
                score=round(h.score, 4),
                reason=h.reason,
                url=f"/books/{h.book_id}",
            )
            for h in hits
        ]
    )


@router.get(
    "/api/v1/assistant/search",
    tags=["assistant"],
    summary="Books whose descriptions mean what the query says (no shared words needed)",
    responses=ERROR_RESPONSES,
)
async def semantic_search(
    assistant: AssistantDep,
    q: Annotated[str, Query(description="what to look for, in plain words (1-500 characters)")],
    limit: Annotated[int, Query(ge=1, le=50)] = 10,
    genre: Annotated[str, Query(description="only books in this genre id")] = "",
) -> BookHits:
    return _hits(list((await assistant.search(q, limit=limit, genre_id=genre)).hits))


@router.get(
    "/api/v1/books/{book_id}/similar",
    tags=["assistant"],
    summary="Books like this one: similar descriptions, same author, genre and period, bought together",
    responses=ERROR_RESPONSES,
)
async def similar_books(
    assistant: AssistantDep, book_id: str, limit: Annotated[int, Query(ge=1, le=20)] = 6
) -> BookHits:
    return _hits(list((await assistant.similar(book_id, limit=limit)).books))


def _sse(event: str, data: dict[str, object]) -> str:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


async def _answer_stream(events: AsyncIterator[assistant_pb2.AskEvent]) -> AsyncIterator[str]:
    try:
        async for event in events:
            if event.HasField("chunk"):
                yield _sse("chunk", {"text": event.chunk.text})
            else:
                done = event.done
                citations = [
                    {"id": c.book_id, "title": c.title, "author": c.author_name, "url": f"/books/{c.book_id}"}
                    for c in done.citations
                ]
                yield _sse(
                    "done",
                    {
                        "citations": citations,
                        "mode": MODES.get(done.mode, "unknown"),
                        "note": done.note,
                        "model": done.model,
                    },
                )
    except grpc.aio.AioRpcError as error:
        # Headers are sent: the failure can only travel as an event now.
        yield _sse(
            "error", {"code": error.code().name.lower(), "message": error.details() or "assistant failed"}
        )


@router.get(
    "/api/v1/assistant/ask",
    tags=["assistant"],
    summary="Answer a question from the catalog, streamed as server-sent events",
    description="`text/event-stream`: `chunk` events (`{text}`) with the answer as it is written, then one "
    "`done` event (`{citations: [{id, title, author, url}], mode: llm|extractive|no_answer, note, model}`); "
    "`error` if the assistant fails mid-answer. Citations are always books the assistant retrieved.",
    responses={
        **ERROR_RESPONSES,
        200: {"content": {"text/event-stream": {}}, "description": "the answer"},
        429: {"model": ErrorBody, "description": "The assistant is answering as many questions as it takes"},
    },
)
async def ask(
    assistant: AssistantDep,
    q: Annotated[str, Query(description="the question (1-500 characters)")],
) -> StreamingResponse:
    events = await assistant.ask(q)
    return StreamingResponse(
        _answer_stream(events),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


@router.get("/assistant", response_class=HTMLResponse, include_in_schema=False)
async def assistant_page(request: Request, templates: TemplatesDep, q: str = "") -> HTMLResponse:
    return templates.TemplateResponse(request, "assistant.html", {"question": q})
