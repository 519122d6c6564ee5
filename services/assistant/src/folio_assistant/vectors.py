"""The vector index: LangChain's Qdrant vector store over one collection of book passages.

`VectorIndex` is a `langchain_qdrant.QdrantVectorStore` (a LangChain `VectorStore`: `as_retriever`,
`similarity_search`, `add_texts` …) on a qdrant-client that reaches a Qdrant server (cluster) or
runs in-process on files under data_dir (local mode, the embedded default). Points are stored as
LangChain lays them out — the passage's text under `page_content`, the book's fields under
`metadata` — and the metadata carries the book's content hash: written last during ingestion, it
marks the book as fully indexed.

On top of LangChain's interface it offers what retrieval needs in one round trip: several filtered
searches for one vector (`nearest`) and stored vectors by book id (`points`), and the batch write of
ingestion (`upsert`). Local mode stores points faithfully but searches in pure Python (20-300 ms a
query at 10,000 books here), so in local mode the index also keeps an in-memory copy of the
collection — one numpy matrix, exact cosine — loaded on first use and updated with every write;
reads are answered from it, LangChain's unfiltered searches included. Only this process can open
the local files, so the copy cannot go stale. With a Qdrant server every call goes to the server.
"""

import asyncio
import sqlite3
import threading
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_qdrant import QdrantVectorStore
from qdrant_client import QdrantClient, models

from folio_assistant.embeddings import DIMENSIONS

COLLECTION = "books"
_NAMESPACE = uuid.UUID("6f1c1f3e-6b1a-4a55-9d0a-6b6f6c696f00")
METADATA = QdrantVectorStore.METADATA_KEY
CONTENT = QdrantVectorStore.CONTENT_KEY

Stored = tuple[npt.NDArray[np.float32], dict[str, Any]]


def point_id(book_id: str) -> str:
    """Qdrant ids are UUIDs or integers: a stable UUID per book id."""
    return str(uuid.uuid5(_NAMESPACE, book_id))


@dataclass(frozen=True)
class VectorHit:
    book_id: str
    score: float
    payload: dict[str, Any]  # the book's metadata


@dataclass(frozen=True)
class Query:
    """One nearest-neighbour query: within a genre, only among `among`, never `exclude`."""

    limit: int
    genre_id: str | None = None
    among: tuple[str, ...] | None = None
    exclude: str | None = None

    def filter(self) -> models.Filter | None:
        must: list[Any] = []
        must_not: list[Any] = []
        if self.genre_id:
            must.append(
                models.FieldCondition(key=f"{METADATA}.genres", match=models.MatchValue(value=self.genre_id))
            )
        if self.among is not None:
            must.append(models.HasIdCondition(has_id=[point_id(b) for b in self.among]))
        if self.exclude:
            must_not.append(models.HasIdCondition(has_id=[point_id(self.exclude)]))
        return models.Filter(must=must, must_not=must_not) if must or must_not else None


def _book(point: Any) -> tuple[str, dict[str, Any]]:
    """A point's book id and metadata (the point id stands in for a text added without a book id)."""
    metadata = dict((point.payload or {}).get(METADATA) or {})
    return str(metadata.get("book_id", point.id)), metadata


def _normal(point: str | int) -> str:
    """A point id as Qdrant reports it (a UUID given as 32 hex digits comes back with dashes)."""
    try:
        return str(uuid.UUID(str(point)))
    except ValueError:
        return str(point)


def _hit(point: Any) -> VectorHit:
    book_id, metadata = _book(point)
    return VectorHit(book_id, float(point.score), metadata)


def _vector(point: Any) -> list[float] | None:
    """A point's (unnamed) dense vector, as LangChain's writes and Folio's both store it."""
    vector = point.vector.get("") if isinstance(point.vector, dict) else point.vector
    return vector if isinstance(vector, list) else None


@dataclass
class _Mirror:
    """The local collection in memory: book id -> (unit vector, metadata), and a matrix built lazily."""

    points: dict[str, Stored] = field(default_factory=dict)
    point_ids: dict[str, str] = field(default_factory=dict)  # book id -> point id
    books: dict[str, str] = field(default_factory=dict)  # point id -> book id
    _ids: list[str] = field(default_factory=list)
    _matrix: npt.NDArray[np.float32] | None = None

    def put(self, points: Iterable[Any]) -> None:
        for point in points:
            vector = _vector(point)
            if vector is not None:
                book_id, metadata = _book(point)
                pid = _normal(point.id)
                replaced = self.books.get(pid)
                if replaced is not None and replaced != book_id:  # the point read another way before
                    self.drop([replaced])
                self.points[book_id] = (np.asarray(vector, dtype=np.float32), metadata)
                self.point_ids[book_id] = pid
                self.books[pid] = book_id
        self._matrix = None

    def drop(self, book_ids: Iterable[str]) -> None:
        for book_id in book_ids:
            self.points.pop(book_id, None)
            self.books.pop(self.point_ids.pop(book_id, ""), None)
        self._matrix = None

    def matrix(self) -> tuple[list[str], npt.NDArray[np.float32]]:
        if self._matrix is None:
            self._ids = list(self.points)
            rows = [self.points[b][0] for b in self._ids]
            self._matrix = np.stack(rows) if rows else np.zeros((0, 0), dtype=np.float32)
        return self._ids, self._matrix

    def search(self, vector: Sequence[float], query: Query) -> list[VectorHit]:
        ids, matrix = self.matrix()
        if not ids:
            return []
        scores = matrix @ np.asarray(vector, dtype=np.float32)
        allowed = set(query.among) if query.among is not None else None
        if allowed is None and not query.genre_id:
            # The common case: the top few (plus one, for an excluded book) without sorting them all.
            top = min(len(ids), query.limit + 1)
            candidates = np.argpartition(-scores, top - 1)[:top]
            order = candidates[np.argsort(-scores[candidates])]
        else:
            order = np.argsort(-scores)
        hits: list[VectorHit] = []
        for row in order:
            book_id = ids[row]
            metadata = self.points[book_id][1]
            if book_id == query.exclude or (allowed is not None and book_id not in allowed):
                continue
            if query.genre_id and query.genre_id not in metadata.get("genres", []):
                continue
            hits.append(VectorHit(book_id, float(scores[row]), metadata))
            if len(hits) == query.limit:
                break
        return hits


def _write_ahead_log(client: QdrantClient) -> None:
    """Local mode stores each point in its own SQLite transaction, by default a journal write and an
    fsync each (13 ms here: 130 s of a 10,000-book ingestion). With write-ahead logging and
    synchronous=NORMAL a commit is an append: still atomic, and kept when the process dies; a power
    loss may drop the last commits, which the next ingestion redoes (their content hash is missing)."""
    local = getattr(client, "_client", None)
    for collection in getattr(local, "collections", {}).values():
        connection = getattr(getattr(collection, "storage", None), "storage", None)
        if isinstance(connection, sqlite3.Connection):
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")


class VectorIndex(QdrantVectorStore):
    """Book passages by meaning: LangChain's Qdrant store with Folio's batched reads and writes."""

    def __init__(
        self, client: QdrantClient, *, embedding: Embeddings | None = None, local: bool = False
    ) -> None:
        # The collection is made by ensure_collection (with the embeddings' dimensions), not checked here.
        super().__init__(
            client,
            COLLECTION,
            embedding=embedding,
            validate_embeddings=False,
            validate_collection_config=False,
        )
        self._local = local
        self._mirror: _Mirror | None = None
        self._loading = threading.Lock()

    @classmethod
    def open(
        cls, *, url: str | None, path: Path, api_key: str | None = None, embedding: Embeddings | None = None
    ) -> "VectorIndex":
        """A server when `url` is set, else local mode on files in `path`."""
        if url:
            return cls(QdrantClient(url=url, api_key=api_key), embedding=embedding)
        path.mkdir(parents=True, exist_ok=True)
        client = QdrantClient(path=str(path))
        _write_ahead_log(client)
        return cls(client, embedding=embedding, local=True)

    def _local_copy(self) -> _Mirror | None:
        """The in-memory copy in local mode (loaded once, by scrolling the files), None with a server."""
        if not self._local:
            return None
        with self._loading:
            if self._mirror is None:
                mirror = _Mirror()
                if self.client.collection_exists(COLLECTION):
                    offset: Any = None
                    while True:
                        found, offset = self.client.scroll(
                            COLLECTION, limit=1000, offset=offset, with_payload=True, with_vectors=True
                        )
                        mirror.put(found)
                        if offset is None:
                            break
                self._mirror = mirror
            return self._mirror

    async def _copy(self) -> _Mirror | None:
        if self._mirror is not None or not self._local:
            return self._mirror
        return await asyncio.to_thread(self._local_copy)

    async def ensure_collection(self) -> None:
        """Create the collection (cosine distance, the embeddings' dimensions) if it does not exist."""
        await asyncio.to_thread(self._ensure_collection)

    def _ensure_collection(self) -> None:
        if self.client.collection_exists(COLLECTION):
            return
        # The embeddings' own size (a swapped model may differ), MiniLM's when the index has none.
        size = len(self.embeddings.embed_query("dimensions")) if self.embeddings else DIMENSIONS
        self.client.create_collection(
            COLLECTION, vectors_config=models.VectorParams(size=size, distance=models.Distance.COSINE)
        )
        if not self._local:  # local mode filters by scanning and warns about indexes
            self.client.create_payload_index(
                COLLECTION, f"{METADATA}.genres", models.PayloadSchemaType.KEYWORD
            )
        else:
            _write_ahead_log(self.client)

    async def count(self) -> int:
        mirror = await self._copy()
        if mirror is not None:
            return len(mirror.points)
        return (await asyncio.to_thread(self.client.count, COLLECTION, exact=True)).count

    async def content_hashes(self) -> dict[str, str]:
        """book id -> content hash of every indexed book (a point without one is not indexed)."""
        mirror = await self._copy()
        if mirror is not None:
            return {b: str(m["hash"]) for b, (_, m) in mirror.points.items() if "hash" in m}
        return await asyncio.to_thread(self._scroll_hashes)

    def _scroll_hashes(self) -> dict[str, str]:
        hashes: dict[str, str] = {}
        offset: Any = None
        while True:
            points, offset = self.client.scroll(
                COLLECTION, limit=1000, offset=offset, with_payload=[METADATA], with_vectors=False
            )
            for point in points:
                book_id, metadata = _book(point)
                if "hash" in metadata:
                    hashes[book_id] = str(metadata["hash"])
            if offset is None:
                return hashes

    async def upsert(self, rows: list[tuple[str, list[float], dict[str, Any]]]) -> None:
        """Many books in one call: (book id, vector, metadata) rows; the metadata must include "hash".
        The point's text is the book's title line."""
        points = [
            models.PointStruct(
                id=point_id(book_id),
                vector=list(vector),
                payload={CONTENT: _title_line(metadata), METADATA: {"book_id": book_id, **metadata}},
            )
            for book_id, vector, metadata in rows
        ]
        mirror = await self._copy()
        await asyncio.to_thread(self.client.upsert, COLLECTION, points=points)
        if mirror is not None:  # updated on the event loop, where it is read
            mirror.put(points)

    def add_texts(  # type: ignore[override]
        self,
        texts: Iterable[str],
        metadatas: list[dict[str, Any]] | None = None,
        ids: Sequence[str | int] | None = None,
        batch_size: int = 64,
        **kwargs: Any,
    ) -> list[str | int]:
        """LangChain's write (embeds the texts with the store's embeddings), kept in the local copy."""
        mirror = self._local_copy()
        added = super().add_texts(texts, metadatas, ids, batch_size, **kwargs)
        if mirror is not None:
            mirror.put(self.client.retrieve(COLLECTION, ids=added, with_vectors=True, with_payload=True))
        return added

    def delete(self, ids: list[str | int] | None = None, **kwargs: Any) -> bool | None:  # type: ignore[override]
        """LangChain's delete by point id, kept in the local copy."""
        mirror = self._local_copy()
        deleted = super().delete(ids, **kwargs)
        if mirror is not None and ids:
            gone = {_normal(i) for i in ids}
            mirror.drop([b for b, p in list(mirror.point_ids.items()) if p in gone])
        return deleted

    async def delete_books(self, book_ids: list[str]) -> None:
        """Remove these books' points (unknown ids are ignored)."""
        if not book_ids:
            return
        mirror = await self._copy()
        selector = models.PointIdsList(points=[point_id(b) for b in book_ids])
        await asyncio.to_thread(self.client.delete, COLLECTION, points_selector=selector)
        if mirror is not None:
            mirror.drop(book_ids)

    def similarity_search_with_score_by_vector(  # type: ignore[override]
        self, embedding: list[float], k: int = 4, filter: models.Filter | None = None, **kwargs: Any
    ) -> list[tuple[Document, float]]:
        """LangChain's search by vector: one call to a server; in local mode, unfiltered, answered from
        the in-memory copy."""
        mirror = self._local_copy()
        options = {name: value for name, value in kwargs.items() if value is not None}
        if mirror is not None:
            if filter is not None or any(options.values()):
                return super().similarity_search_with_score_by_vector(embedding, k, filter, **kwargs)
            return [(_document(hit), hit.score) for hit in mirror.search(embedding, Query(limit=k))]
        # A server: one query, without the collection lookup LangChain makes before each search.
        found = self.client.query_points(
            COLLECTION, query=embedding, query_filter=filter, limit=k, with_payload=True, **options
        )
        return [(_document(hit), hit.score) for hit in map(_hit, found.points)]

    def similarity_search_with_score(  # type: ignore[override]
        self, query: str, k: int = 4, filter: models.Filter | None = None, **kwargs: Any
    ) -> list[tuple[Document, float]]:
        """LangChain's search by text; unfiltered in local mode, answered from the in-memory copy."""
        if self._local and filter is None and not any(kwargs.values()):
            vector = self._require_embeddings("searching by text").embed_query(query)
            return self.similarity_search_with_score_by_vector(vector, k)
        return super().similarity_search_with_score(query, k, filter, **kwargs)

    async def nearest(self, vector: list[float], queries: list[Query]) -> list[list[VectorHit]]:
        """Several nearest-passage queries for one vector in one round trip, best first in each."""
        mirror = await self._copy()
        if mirror is not None:
            return [mirror.search(vector, q) for q in queries]
        requests = [
            models.QueryRequest(query=vector, limit=q.limit, filter=q.filter(), with_payload=True)
            for q in queries
        ]
        responses = await asyncio.to_thread(self.client.query_batch_points, COLLECTION, requests=requests)
        return [[_hit(p) for p in r.points] for r in responses]

    async def points(self, book_ids: list[str]) -> dict[str, Stored]:
        """Stored vector and metadata of each of these books that is indexed (a lookup by id, no scan)."""
        if not book_ids:
            return {}
        mirror = await self._copy()
        if mirror is not None:
            return {b: mirror.points[b] for b in book_ids if b in mirror.points}
        found = await asyncio.to_thread(
            self.client.retrieve,
            COLLECTION,
            ids=[point_id(b) for b in book_ids],
            with_vectors=True,
            with_payload=True,
        )
        fetched = _Mirror()
        fetched.put(found)
        return fetched.points

    async def vector_of(self, book_id: str) -> list[float] | None:
        """The stored vector of one book, or None when it is not indexed."""
        stored = (await self.points([book_id])).get(book_id)
        return None if stored is None else [float(x) for x in stored[0]]

    async def close(self) -> None:
        await asyncio.to_thread(self.client.close)


def _title_line(metadata: dict[str, Any]) -> str:
    """The text a point carries for LangChain readers: "Title by Author (year)"."""
    line = str(metadata.get("title", ""))
    if metadata.get("author_name"):
        line += f" by {metadata['author_name']}"
    if metadata.get("year"):
        line += f" ({metadata['year']})"
    return line


def _document(hit: VectorHit) -> Document:
    return Document(
        id=point_id(hit.book_id), page_content=_title_line(hit.payload), metadata=dict(hit.payload)
    )
