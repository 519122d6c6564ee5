"""The storefront's view of the assistant service (optional: the shop works without it)."""

from collections.abc import AsyncIterator

import grpc

from folio.assistant.v1 import assistant_pb2, assistant_pb2_grpc
from folio_storefront.backends import call_backend, is_serving

ASSISTANT = "assistant"
# The end-of-stream marker of call.read(); grpc-stubs does not declare it.
_EOF: object = grpc.aio.EOF  # type: ignore[attr-defined]
ASSISTANT_SERVICE = assistant_pb2.DESCRIPTOR.services_by_name["AssistantService"].full_name
# Searches and similar books are reads; Ask and Ingest stream and are not retried.
ASSISTANT_IDEMPOTENT_METHODS = [f"{ASSISTANT_SERVICE}/SemanticSearch", f"{ASSISTANT_SERVICE}/SimilarBooks"]


class AssistantClient:
    def __init__(self, channel: grpc.aio.Channel, *, ask_timeout: float) -> None:
        self._channel = channel
        self._stub = assistant_pb2_grpc.AssistantServiceStub(channel)
        self._ask_timeout = ask_timeout

    async def search(
        self, query: str, *, limit: int, genre_id: str = ""
    ) -> assistant_pb2.SemanticSearchResponse:
        request = assistant_pb2.SemanticSearchRequest(query=query, limit=limit, genre_id=genre_id)
        return await call_backend(
            ASSISTANT, self._stub.SemanticSearch(request), parameters={"query": "q", "genre_id": "genre"}
        )

    async def similar(self, book_id: str, *, limit: int) -> assistant_pb2.SimilarBooksResponse:
        request = assistant_pb2.SimilarBooksRequest(book_id=book_id, limit=limit)
        return await call_backend(ASSISTANT, self._stub.SimilarBooks(request))

    async def ask(self, question: str) -> AsyncIterator[assistant_pb2.AskEvent]:
        """The answer's events. The first is awaited here, so a bad question or an assistant that
        is down raises the edge error before any byte of the stream is sent."""
        call = self._stub.Ask(assistant_pb2.AskRequest(question=question), timeout=self._ask_timeout)
        first = await call_backend(ASSISTANT, call.read(), parameters={"question": "q"})
        return _rest(first, call)

    async def is_serving(self, probe_timeout: float = 1.0) -> bool:
        return await is_serving(self._channel, ASSISTANT_SERVICE, probe_timeout)


async def _rest(first: object, call: object) -> AsyncIterator[assistant_pb2.AskEvent]:
    if first is _EOF:
        return
    assert isinstance(first, assistant_pb2.AskEvent)
    yield first
    while True:
        event = await call.read()  # type: ignore[attr-defined]
        if event is _EOF:
            return
        yield event
