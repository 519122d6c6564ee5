"""The assistant's retrieval as a LangChain retriever over the seed catalog: Documents with the
facts and the linked title, composable in an LCEL chain like any retriever."""

import pytest
from langchain_core.runnables import RunnableLambda

from folio_assistant.lc_retriever import CatalogRetriever
from folio_assistant.retrieval import Retriever

pytestmark = pytest.mark.timeout(900)


async def test_documents_carry_the_books_and_why(seed_retriever: Retriever) -> None:
    docs = await CatalogRetriever(retriever=seed_retriever, k=3).ainvoke("What did Bram Stoker write?")
    assert len(docs) == 3
    dracula = next(d for d in docs if d.id == "dracula")
    assert dracula.page_content.startswith("[Dracula](/books/dracula) (1897) by Bram Stoker")
    assert dracula.metadata["author"] == "Bram Stoker"
    assert "by Bram Stoker" in dracula.metadata["reasons"]


async def test_it_composes_in_a_chain(seed_retriever: Retriever) -> None:
    chain = CatalogRetriever(retriever=seed_retriever) | RunnableLambda(lambda docs: [d.id for d in docs])
    ids = await chain.ainvoke("an old gentleman who read too many tales of knights attacks windmills")
    assert "don-quixote" in ids
