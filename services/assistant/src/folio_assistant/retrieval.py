"""Retrieval: the books and facts a question needs, in at most three sequential round trips.

In memory first: entity linking, and BM25 over every book's words (the lexical half of a hybrid).
1. graph: books the question names (an author, a title and its author's other books, or a
   genre/era/nationality facet) — only when entity linking found names;
2. vectors: nearest passages overall, and the stored vectors of the graph and lexical candidates,
   one batched call;
3. graph: facts (author, other books by them, genres, era, bought with) for the top books.
A book's score is its cosine similarity, plus a share of its BM25 score, plus bonuses for what
the question names. The question is embedded by any LangChain `Embeddings` (the same model that
embedded the passages); the stores are LangChain's (`vectors.py`, `graph.py`).
"""

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
from langchain_core.embeddings import Embeddings
from opentelemetry import trace

from folio_assistant.embeddings import Embedder, model_of
from folio_assistant.genai import GenAiMetrics
from folio_assistant.graph import GraphStore, Names, Neighbour
from folio_assistant.lexical import LexicalIndex
from folio_assistant.linking import Gazetteer, Links
from folio_assistant.model import BookFacts, Hit
from folio_assistant.vectors import Query, VectorIndex

# Score bonuses on top of cosine similarity for what the question names explicitly.
BONUS = {"title": 0.6, "author": 0.4, "same_author": 0.3, "facets": 0.15}
REASON = {
    "title": "named in the question",
    "author": "by {about}",
    "same_author": "same author as {about}",
    "facets": "matches the genre, period or nationality asked for",
}
# The embeddings run in process, on onnxruntime (the gen_ai.provider.name of their calls).
EMBEDDINGS_PROVIDER = "onnxruntime"
# Lexical candidates per question, and the weight of BM25 (scaled to the best match, 0-1) in a score.
LEXICAL_DEPTH = 20
LEXICAL_WEIGHT = 0.15
# Similar books: bonuses for graph proximity.
NEIGHBOUR_BONUS = {"same_author": 0.12, "bought_with": 0.15, "genre_era": 0.02}


@dataclass
class Retrieval:
    hits: list[Hit]
    payloads: dict[str, dict[str, Any]]
    facts: dict[str, BookFacts] = field(default_factory=dict)
    links: Links = field(default_factory=Links)
    best_similarity: float = 0.0
    round_trips: int = 0


class Retriever:
    """Search, question retrieval and similar books over the vector index and the graph."""

    def __init__(
        self,
        *,
        embedder: Embeddings,
        vectors: VectorIndex,
        graph: GraphStore,
        tracer: trace.Tracer | None = None,
        gen_ai_metrics: GenAiMetrics | None = None,
    ) -> None:
        self.embedder = embedder
        self._model = model_of(embedder)
        self._provider = EMBEDDINGS_PROVIDER if isinstance(embedder, Embedder) else type(embedder).__name__
        self.vectors = vectors
        self.graph = graph
        self.gazetteer = Gazetteer(Names(authors={}, nationalities=set(), titles={}))
        self.lexical = LexicalIndex({})
        self._tracer = tracer or trace.get_tracer(__name__)
        self._metrics = gen_ai_metrics or GenAiMetrics()

    async def refresh_names(self) -> None:
        """Reload the names entity linking knows and the lexical index from the graph (after an ingestion)."""
        names, texts = await asyncio.gather(self.graph.names(), self.graph.texts())
        self.gazetteer = Gazetteer(names)
        self.lexical = await asyncio.to_thread(LexicalIndex, texts)

    async def embed(self, text: str) -> list[float]:
        attributes = {
            "gen_ai.operation.name": "embeddings",
            "gen_ai.provider.name": self._provider,
            "gen_ai.request.model": self._model,
        }
        with self._tracer.start_as_current_span(f"embeddings {self._model}") as span:
            span.set_attributes(attributes)
            started = time.monotonic()
            vector = await self.embedder.aembed_query(text)
            self._metrics.operation(time.monotonic() - started, attributes)
            return vector

    async def retrieve(
        self, question: str, *, k: int = 5, genre_id: str | None = None, with_facts: bool = True
    ) -> Retrieval:
        """The k best books for a question, with graph facts when `with_facts`."""
        with self._tracer.start_as_current_span("assistant.retrieve") as span:
            links = self.gazetteer.link(question)
            lexical = {h.book_id: h.score for h in self.lexical.search(question, limit=LEXICAL_DEPTH)}
            round_trips = 0
            vector_task = asyncio.create_task(self.embed(question))
            candidates = []
            if links.any:
                candidates = await self.graph.candidates(
                    author_ids=links.author_ids,
                    book_ids=links.book_ids,
                    genre_ids=links.genre_ids,
                    eras=links.eras,
                    nationalities=links.nationalities,
                )
                round_trips += 1
            vector = await vector_task
            # Candidates are scored from their stored vectors (a lookup by id) rather than by a filtered
            # search: Qdrant local mode evaluates filters point by point in Python. Both calls go out
            # together, so they are one round trip.
            among = sorted({c.book_id for c in candidates} | set(lexical))
            nearest, stored = await asyncio.gather(
                self.vectors.nearest(vector, [Query(limit=max(20, k * 4), genre_id=genre_id)]),
                self.vectors.points(among),
            )
            round_trips += 1
            hits: dict[str, Hit] = {}
            payloads: dict[str, dict[str, Any]] = {}
            for vhit in nearest[0]:
                hits[vhit.book_id] = Hit(vhit.book_id, vhit.score, ["similar description"])
                payloads[vhit.book_id] = vhit.payload
            _add_scored(hits, payloads, vector, stored, genre_id=genre_id)
            best_similarity = max((h.score for h in hits.values()), default=0.0)
            for book_id, share in lexical.items():
                if book_id in hits:
                    hits[book_id].score += LEXICAL_WEIGHT * share
                    if share >= 0.5:
                        hits[book_id].reasons.append("shares rare words with the question")
            bonus: dict[str, dict[str, float]] = {}
            for candidate in candidates:
                if candidate.book_id in hits:
                    reasons = bonus.setdefault(candidate.book_id, {})
                    reason = REASON[candidate.why].format(about=candidate.about)
                    reasons[reason] = max(reasons.get(reason, 0.0), BONUS[candidate.why])
                    hits[candidate.book_id].named.add(candidate.why)
            for book_id, reasons in bonus.items():
                hit = hits[book_id]
                hit.bonus = sum(reasons.values())
                hit.score += hit.bonus
                hit.reasons = [*reasons, *hit.reasons]
            ranked = sorted(hits.values(), key=lambda h: (-h.score, h.book_id))[:k]
            retrieval = Retrieval(
                hits=ranked,
                payloads={h.book_id: payloads[h.book_id] for h in ranked},
                links=links,
                best_similarity=best_similarity,
            )
            if with_facts and ranked:
                retrieval.facts = await self.graph.facts([h.book_id for h in ranked])
                round_trips += 1
            retrieval.round_trips = round_trips
            span.set_attribute("folio.assistant.round_trips", round_trips)
            span.set_attribute("folio.assistant.hits", len(ranked))
            return retrieval

    async def similar(self, book_id: str, *, limit: int) -> Retrieval | None:
        """Books like `book_id` (None when it is not indexed): cosine blended with graph proximity."""
        with self._tracer.start_as_current_span("assistant.similar"):
            vector, neighbours = await asyncio.gather(
                self.vectors.vector_of(book_id), self.graph.neighbours(book_id)
            )
            if vector is None:
                return None
            nearest, stored = await asyncio.gather(
                self.vectors.nearest(vector, [Query(limit=max(30, limit * 4) + 1)]),
                self.vectors.points(sorted({n.book_id for n in neighbours} - {book_id})),
            )
            hits: dict[str, Hit] = {}
            payloads: dict[str, dict[str, Any]] = {}
            for vhit in nearest[0]:
                if vhit.book_id != book_id:
                    hits[vhit.book_id] = Hit(vhit.book_id, vhit.score, ["similar description"])
                    payloads[vhit.book_id] = vhit.payload
            _add_scored(hits, payloads, vector, stored)
            _apply_neighbours(hits, neighbours)
            ranked = sorted(hits.values(), key=lambda h: (-h.score, h.book_id))[:limit]
            return Retrieval(
                hits=ranked, payloads={h.book_id: payloads[h.book_id] for h in ranked}, round_trips=2
            )


def _add_scored(
    hits: dict[str, Hit],
    payloads: dict[str, dict[str, Any]],
    vector: list[float],
    stored: dict[str, tuple[npt.NDArray[np.float32], dict[str, Any]]],
    *,
    genre_id: str | None = None,
) -> None:
    """Add books not among the nearest, scored by cosine (vectors are unit length: a dot product)."""
    query = np.asarray(vector, dtype=np.float32)
    for book_id, (book_vector, payload) in stored.items():
        if book_id in hits or (genre_id and genre_id not in payload.get("genres", [])):
            continue
        score = float(np.dot(query, book_vector))
        hits[book_id] = Hit(book_id, score, ["similar description"])
        payloads[book_id] = payload


def _apply_neighbours(hits: dict[str, Hit], neighbours: list[Neighbour]) -> None:
    labels = {
        "same_author": "same author",
        "bought_with": "readers also bought",
        "genre_era": "same genre and period",
    }
    applied: set[tuple[str, str]] = set()
    for n in neighbours:
        hit = hits.get(n.book_id)
        if hit is None or (n.book_id, n.why) in applied:
            continue
        applied.add((n.book_id, n.why))
        weight = NEIGHBOUR_BONUS[n.why] * (min(n.weight, 3) if n.why == "genre_era" else 1)
        hit.score += weight
        hit.reasons.insert(0, labels[n.why])
