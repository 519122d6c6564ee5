"""The vector index: one Qdrant collection of book passages, through qdrant-client.

The same client API reaches a Qdrant server (cluster) or runs in-process on files under
data_dir (local mode, the embedded default). Each point carries the book's content hash:
written last during ingestion, it marks the book as fully indexed.

Local mode stores points faithfully but searches in pure Python (20-300 ms a query at 10,000
books here). So in local mode the index also keeps an in-memory copy of the collection — one
numpy matrix, exact cosine — loaded on first use and updated with every write; reads are
answered from it. Only this process can open the local files, so the copy cannot go stale.
With a Qdrant server every call goes to the server.
"""

import asyncio
import sqlite3
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from qdrant_client import AsyncQdrantClient, models

from folio_assistant.embeddings import DIMENSIONS

COLLECTION = "books"
_NAMESPACE = uuid.UUID("6f1c1f3e-6b1a-4a55-9d0a-6b6f6c696f00")


def point_id(book_id: str) -> str:
    """Qdrant ids are UUIDs or integers: a stable UUID per book id."""
    return str(uuid.uuid5(_NAMESPACE, book_id))


def _write_ahead_log(client: AsyncQdrantClient) -> None:
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


@dataclass(frozen=True)
class VectorHit:
    book_id: str
    score: float
    payload: dict[str, Any]


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
            must.append(models.FieldCondition(key="genres", match=models.MatchValue(value=self.genre_id)))
        if self.among is not None:
            must.append(models.HasIdCondition(has_id=[point_id(b) for b in self.among]))
        if self.exclude:
            must_not.append(models.HasIdCondition(has_id=[point_id(self.exclude)]))
        return models.Filter(must=must, must_not=must_not) if must or must_not else None


@dataclass
class _Mirror:
    """The local collection in memory: book id -> (unit vector, payload), and a matrix built lazily."""

    points: dict[str, tuple[npt.NDArray[np.float32], dict[str, Any]]] = field(default_factory=dict)
    _ids: list[str] = field(default_factory=list)
    _matrix: npt.NDArray[np.float32] | None = None

    def changed(self) -> None:
        self._matrix = None

    def matrix(self) -> tuple[list[str], npt.NDArray[np.float32]]:
        if self._matrix is None:
            self._ids = list(self.points)
            rows = [self.points[b][0] for b in self._ids]
            self._matrix = np.stack(rows) if rows else np.zeros((0, DIMENSIONS), dtype=np.float32)
        return self._ids, self._matrix

    def search(self, vector: list[float], query: "Query") -> list["VectorHit"]:
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
            payload = self.points[book_id][1]
            if book_id == query.exclude or (allowed is not None and book_id not in allowed):
                continue
            if query.genre_id and query.genre_id not in payload.get("genres", []):
                continue
            hits.append(VectorHit(book_id, float(scores[row]), payload))
            if len(hits) == query.limit:
                break
        return hits


class VectorIndex:
    """Book passages by meaning."""

    def __init__(self, client: AsyncQdrantClient, *, local: bool = False) -> None:
        self._client = client
        self._local = local
        self._mirror: _Mirror | None = None
        self._loading = asyncio.Lock()

    async def _local_copy(self) -> _Mirror | None:
        """The in-memory copy in local mode (loaded once), None with a server."""
        if not self._local:
            return None
        async with self._loading:
            if self._mirror is None:
                mirror = _Mirror()
                if await self._client.collection_exists(COLLECTION):
                    offset: Any = None
                    while True:
                        found, offset = await self._client.scroll(
                            COLLECTION, limit=1000, offset=offset, with_payload=True, with_vectors=True
                        )
                        for point in found:
                            payload = dict(point.payload or {})
                            vector = np.asarray(point.vector, dtype=np.float32)
                            mirror.points[str(payload["book_id"])] = (vector, payload)
                        if offset is None:
                            break
                self._mirror = mirror
            return self._mirror

    @classmethod
    def open(cls, *, url: str | None, path: Path, api_key: str | None = None) -> "VectorIndex":
        """A server when `url` is set, else local mode on files in `path`."""
        if url:
            return cls(AsyncQdrantClient(url=url, api_key=api_key))
        path.mkdir(parents=True, exist_ok=True)
        client = AsyncQdrantClient(path=str(path))
        _write_ahead_log(client)
        return cls(client, local=True)

    async def ensure_collection(self) -> None:
        """Create the collection (cosine distance, 384 dimensions) if it does not exist."""
        if not await self._client.collection_exists(COLLECTION):
            await self._client.create_collection(
                COLLECTION,
                vectors_config=models.VectorParams(size=DIMENSIONS, distance=models.Distance.COSINE),
            )
            if not self._local:  # local mode filters by scanning and warns about indexes
                await self._client.create_payload_index(
                    COLLECTION, "genres", models.PayloadSchemaType.KEYWORD
                )
            if self._local:
                _write_ahead_log(self._client)

    async def count(self) -> int:
        mirror = await self._local_copy()
        if mirror is not None:
            return len(mirror.points)
        return (await self._client.count(COLLECTION, exact=True)).count

    async def content_hashes(self) -> dict[str, str]:
        """book id -> content hash of every indexed book."""
        mirror = await self._local_copy()
        if mirror is not None:
            return {b: str(payload["hash"]) for b, (_, payload) in mirror.points.items()}
        hashes: dict[str, str] = {}
        offset: Any = None
        while True:
            points, offset = await self._client.scroll(
                COLLECTION, limit=1000, offset=offset, with_payload=["book_id", "hash"], with_vectors=False
            )
            for point in points:
                payload = point.payload or {}
                hashes[str(payload["book_id"])] = str(payload["hash"])
            if offset is None:
                return hashes

    async def upsert(self, rows: list[tuple[str, list[float], dict[str, Any]]]) -> None:
        """(book id, vector, payload) rows; the payload must include "hash"."""
        mirror = await self._local_copy()
        await self._client.upsert(
            COLLECTION,
            points=[
                models.PointStruct(
                    id=point_id(book_id), vector=vector, payload={"book_id": book_id, **payload}
                )
                for book_id, vector, payload in rows
            ],
        )
        if mirror is not None:
            for book_id, vector, payload in rows:
                mirror.points[book_id] = (
                    np.asarray(vector, dtype=np.float32),
                    {"book_id": book_id, **payload},
                )
            mirror.changed()

    async def delete(self, book_ids: list[str]) -> None:
        if book_ids:
            mirror = await self._local_copy()
            await self._client.delete(
                COLLECTION, points_selector=models.PointIdsList(points=[point_id(b) for b in book_ids])
            )
            if mirror is not None:
                for book_id in book_ids:
                    mirror.points.pop(book_id, None)
                mirror.changed()

    async def search(self, vector: list[float], queries: list[Query]) -> list[list[VectorHit]]:
        """Several nearest-passage queries for one vector in one round trip, best first in each."""
        mirror = await self._local_copy()
        if mirror is not None:
            return [mirror.search(vector, q) for q in queries]
        requests = [
            models.QueryRequest(query=vector, limit=q.limit, filter=q.filter(), with_payload=True)
            for q in queries
        ]
        responses = await self._client.query_batch_points(COLLECTION, requests=requests)
        return [
            [
                VectorHit(str((p.payload or {})["book_id"]), float(p.score), dict(p.payload or {}))
                for p in r.points
            ]
            for r in responses
        ]

    async def points(self, book_ids: list[str]) -> dict[str, tuple[npt.NDArray[np.float32], dict[str, Any]]]:
        """Stored vector and payload of each of these books that is indexed (a lookup by id, no scan)."""
        if not book_ids:
            return {}
        mirror = await self._local_copy()
        if mirror is not None:
            return {b: mirror.points[b] for b in book_ids if b in mirror.points}
        found = await self._client.retrieve(
            COLLECTION, ids=[point_id(b) for b in book_ids], with_vectors=True, with_payload=True
        )
        result: dict[str, tuple[npt.NDArray[np.float32], dict[str, Any]]] = {}
        for point in found:
            payload = dict(point.payload or {})
            if isinstance(point.vector, list):
                result[str(payload["book_id"])] = (np.asarray(point.vector, dtype=np.float32), payload)
        return result

    async def vector_of(self, book_id: str) -> list[float] | None:
        """The stored vector of one book, or None when it is not indexed."""
        mirror = await self._local_copy()
        if mirror is not None:
            point = mirror.points.get(book_id)
            return None if point is None else [float(x) for x in point[0]]
        points = await self._client.retrieve(COLLECTION, ids=[point_id(book_id)], with_vectors=True)
        if not points or points[0].vector is None:
            return None
        vector = points[0].vector
        assert isinstance(vector, list)
        return [float(x) for x in vector]  # type: ignore[arg-type]

    async def close(self) -> None:
        await self._client.close()
