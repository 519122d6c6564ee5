"""The AssistantService gRPC handlers: validation, then retrieval and answering."""

import asyncio
import logging
import re
from collections.abc import AsyncIterator
from typing import Any

import grpc

from folio.assistant.v1 import assistant_pb2, assistant_pb2_grpc
from folio_assistant.answer import Answerer, Chunk, Done
from folio_assistant.ingest import Ingestion, Progress
from folio_assistant.retrieval import Retrieval, Retriever
from folio_platform.auth import PUBLIC, role, rules_for
from folio_platform.errors import (
    FolioError,
    InvalidArgument,
    NotFound,
    ResourceExhausted,
    Unavailable,
)

log = logging.getLogger(__name__)

MODES = {
    "llm": assistant_pb2.ANSWER_MODE_LLM,
    "extractive": assistant_pb2.ANSWER_MODE_EXTRACTIVE,
    "no_answer": assistant_pb2.ANSWER_MODE_NO_ANSWER,
}
PHASES = {
    "idle": assistant_pb2.INGEST_PHASE_UNSPECIFIED,
    "reading_catalog": assistant_pb2.INGEST_PHASE_READING_CATALOG,
    "indexing": assistant_pb2.INGEST_PHASE_INDEXING,
    "orders": assistant_pb2.INGEST_PHASE_ORDERS,
    "done": assistant_pb2.INGEST_PHASE_DONE,
    "failed": assistant_pb2.INGEST_PHASE_FAILED,
}


def progress_message(progress: Progress) -> assistant_pb2.IngestProgress:
    return assistant_pb2.IngestProgress(
        phase=PHASES[progress.phase],
        catalog_books=progress.catalog_books,
        to_index=progress.to_index,
        indexed=progress.indexed,
        removed=progress.removed,
        purchase_pairs=progress.purchase_pairs,
        note=progress.note,
    )


# The catalog's ids (books, genres): lowercase slugs.
CATALOG_ID = re.compile(r"[a-z0-9][a-z0-9-]{0,159}")


def text_field(value: str, field: str, max_chars: int) -> str:
    """A required free-text field, trimmed, within the length limit (the platform has refused
    control characters before the handler runs)."""
    text = value.strip()
    if not text:
        raise InvalidArgument(field, "must not be empty")
    if len(text) > max_chars:
        raise InvalidArgument(field, f"must be at most {max_chars} characters (got {len(text)})")
    return text


def id_field(value: str, field: str, *, required: bool = True) -> str:
    """A catalog id (a lowercase slug such as 'moby-dick'); empty is allowed when not required."""
    if not value and not required:
        return ""
    if not value:
        raise InvalidArgument(field, "is required")
    if not CATALOG_ID.fullmatch(value):
        raise InvalidArgument(
            field, "must be a catalog id such as 'moby-dick' (lowercase letters, digits, hyphens)"
        )
    return value


def limit_field(value: int, field: str, *, default: int, maximum: int) -> int:
    if value == 0:
        return default
    if not 1 <= value <= maximum:
        raise InvalidArgument(field, f"must be between 1 and {maximum} (or 0 for {default})")
    return value


def hits_message(retrieval: Retrieval) -> list[assistant_pb2.BookHit]:
    hits = []
    for hit in retrieval.hits:
        payload: dict[str, Any] = retrieval.payloads.get(hit.book_id, {})
        hits.append(
            assistant_pb2.BookHit(
                book_id=hit.book_id,
                title=str(payload.get("title", "")),
                author_name=str(payload.get("author_name", "")),
                year=int(payload.get("year", 0)),
                genres=[str(g) for g in payload.get("genre_names", [])],
                score=round(hit.score, 4),
                reason="; ".join(dict.fromkeys(hit.reasons)),
            )
        )
    return hits


# Asking and searching are open to every shopper (the storefront calls without a token for guests);
# rebuilding the index is for catalog admins and the assistant's own account (`folio ingest`).
ACCESS = rules_for(
    assistant_pb2.DESCRIPTOR.services_by_name["AssistantService"],
    {
        **dict.fromkeys(("SemanticSearch", "Ask", "SimilarBooks", "GetIndexStatus"), PUBLIC),
        "Ingest": role("catalog-admin", services=("folio-assistant",)),
    },
)
# A question is typed into a text box and may span lines; every other text field is one line.
MULTILINE = frozenset({"folio.assistant.v1.AskRequest.question"})


class AssistantServicer(assistant_pb2_grpc.AssistantServiceServicer):
    def __init__(
        self,
        *,
        retriever: Retriever,
        answerer: Answerer,
        ingestion: Ingestion,
        question_max_chars: int,
        ask_concurrency: int = 8,
        retrieval_timeout: float = 5.0,
    ) -> None:
        self._retriever = retriever
        self._answerer = answerer
        self._ingestion = ingestion
        self._max_chars = question_max_chars
        self._ask_concurrency = ask_concurrency
        self._asking = 0
        self._retrieval_timeout = retrieval_timeout

    async def _retrieve(self, text: str, **kwargs: Any) -> Retrieval:
        try:
            async with asyncio.timeout(self._retrieval_timeout):
                return await self._retriever.retrieve(text, **kwargs)
        except TimeoutError:
            raise Unavailable("assistant index", "retrieval timed out") from None
        except FolioError:
            raise
        except Exception as error:
            log.exception("retrieval failed")
            raise Unavailable("assistant index", f"retrieval failed: {type(error).__name__}") from error

    async def SemanticSearch(
        self, request: assistant_pb2.SemanticSearchRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> assistant_pb2.SemanticSearchResponse:
        query = text_field(request.query, "query", self._max_chars)
        limit = limit_field(request.limit, "limit", default=10, maximum=50)
        genre_id = id_field(request.genre_id, "genre_id", required=False)
        retrieval = await self._retrieve(query, k=limit, genre_id=genre_id or None, with_facts=False)
        return assistant_pb2.SemanticSearchResponse(hits=hits_message(retrieval))

    async def SimilarBooks(
        self, request: assistant_pb2.SimilarBooksRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> assistant_pb2.SimilarBooksResponse:
        book_id = id_field(request.book_id, "book_id")
        limit = limit_field(request.limit, "limit", default=6, maximum=20)
        try:
            async with asyncio.timeout(self._retrieval_timeout):
                retrieval = await self._retriever.similar(book_id, limit=limit)
        except TimeoutError:
            raise Unavailable("assistant index", "similar books timed out") from None
        except Exception as error:
            log.exception("similar books failed")
            raise Unavailable("assistant index", f"similar books failed: {type(error).__name__}") from error
        if retrieval is None:
            raise NotFound(f"book {book_id!r} is not in the assistant's index")
        return assistant_pb2.SimilarBooksResponse(books=hits_message(retrieval))

    async def Ask(
        self, request: assistant_pb2.AskRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[assistant_pb2.AskEvent]:
        # Each answer holds a slot from retrieval to its last event; when all are taken the caller is
        # told at once (RESOURCE_EXHAUSTED, 429 at the edge) rather than queued behind a slow model.
        # The platform's interceptor turns a FolioError raised before the first event into the status.
        if self._asking >= self._ask_concurrency:
            raise ResourceExhausted(
                f"the assistant is answering {self._asking} questions already; ask again in a few seconds"
            )
        self._asking += 1
        try:
            async for event in self._answer(request):
                yield event
        finally:
            self._asking -= 1

    async def _answer(self, request: assistant_pb2.AskRequest) -> AsyncIterator[assistant_pb2.AskEvent]:
        question = text_field(request.question, "question", self._max_chars)
        retrieval = await self._retrieve(question)
        building = ""
        if self._ingestion.running:
            p = self._ingestion.progress
            building = f"the index is still being built ({p.indexed} of {p.to_index} books so far)"
        try:
            async for event in self._answerer.answer(question, retrieval):
                if isinstance(event, Chunk):
                    yield assistant_pb2.AskEvent(chunk=assistant_pb2.AnswerChunk(text=event.text))
                else:
                    yield assistant_pb2.AskEvent(done=self._done(event, retrieval, building))
        except FolioError:
            raise
        except Exception as error:
            # The answerer degrades every model failure itself; anything else is a fault of the
            # service, reported as such (UNAVAILABLE; the edge's `error` event once text has streamed).
            log.exception("answer failed")
            raise Unavailable("assistant", f"answering failed: {type(error).__name__}") from error

    @staticmethod
    def _done(done: Done, retrieval: Retrieval, building: str) -> assistant_pb2.AnswerDone:
        citations = []
        for book_id in done.citations:
            facts = retrieval.facts[book_id]
            citations.append(
                assistant_pb2.Citation(book_id=book_id, title=facts.title, author_name=facts.author_name)
            )
        note = "; ".join(n for n in (done.note, building) if n)
        return assistant_pb2.AnswerDone(
            citations=citations, mode=MODES[done.mode], note=note, model=done.model
        )

    async def Ingest(
        self, request: assistant_pb2.IngestRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[assistant_pb2.IngestProgress]:
        async for progress in self._ingestion.follow():
            yield progress_message(progress)

    async def GetIndexStatus(
        self, request: assistant_pb2.GetIndexStatusRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> assistant_pb2.IndexStatus:
        try:
            count = await self._retriever.vectors.count()
        except Exception as error:
            raise Unavailable("assistant index", f"cannot count: {type(error).__name__}") from error
        return assistant_pb2.IndexStatus(
            indexed_books=count,
            ingesting=self._ingestion.running,
            last=progress_message(self._ingestion.progress),
        )
