"""The assistant's retrieval as a LangChain retriever: `CatalogRetriever(retriever=...)` is a
`BaseRetriever`, so a LangChain user composes it like any other (`retriever | format_docs`,
`ainvoke`, callbacks, tracing), while the work stays the hybrid retrieval of `retrieval.py`
(BM25 and entity linking in memory, at most three backend round trips)."""

from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForRetrieverRun, CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict

from folio_assistant.answer import list_item
from folio_assistant.retrieval import Retrieval, Retriever


def documents(retrieval: Retrieval) -> list[Document]:
    """One Document per retrieved book: its facts as text (a Markdown list item with the linked
    title), its id, title, author, score and why it was found as metadata."""
    found = []
    for hit in retrieval.hits:
        facts = retrieval.facts.get(hit.book_id)
        payload = retrieval.payloads.get(hit.book_id, {})
        text = (
            list_item(facts).removeprefix("- ").strip() if facts else str(payload.get("title", hit.book_id))
        )
        found.append(
            Document(
                id=hit.book_id,
                page_content=text,
                metadata={
                    "book_id": hit.book_id,
                    "title": facts.title if facts else payload.get("title", ""),
                    "author": facts.author_name if facts else payload.get("author_name", ""),
                    "score": round(hit.score, 4),
                    "reasons": list(dict.fromkeys(hit.reasons)),
                },
            )
        )
    return found


class CatalogRetriever(BaseRetriever):
    """Books for a question, as LangChain Documents (async: the stores are async)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    retriever: Retriever
    k: int = 5

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun
    ) -> list[Document]:
        raise NotImplementedError("the catalog retriever is async: use ainvoke")

    async def _aget_relevant_documents(
        self, query: str, *, run_manager: AsyncCallbackManagerForRetrieverRun, **kwargs: Any
    ) -> list[Document]:
        return documents(await self.retriever.retrieve(query, k=self.k))
