"""The vector index: one Qdrant collection of book passages, through qdrant-client.

The same client API reaches a Qdrant server (cluster) or runs in-process on files under
data_dir (local mode, the embedded default). Each point carries the book's content hash:
written last during ingestion, it marks the book as fully indexed.
"""

import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qdrant_client import AsyncQdrantClient, models

from folio_assistant.embeddings import DIMENSIONS

COLLECTION = "books"
_NAMESPACE = uuid.UUID("6f1c1f3e-6b1a-4a55-9d0a-6b6f6c696f00")


def point_id(book_id: str) -> str:
    """Qdrant ids are UUIDs or integers: a stable UUID per book id."""
    return str(uuid.uuid5(_NAMESPACE, book_id))


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


class VectorIndex:
    """Book passages by meaning."""

    def __init__(self, client: AsyncQdrantClient, *, local: bool = False) -> None:
        self._client = client
        self._local = local

    @classmethod
    def open(cls, *, url: str | None, path: Path, api_key: str | None = None) -> "VectorIndex":
        """A server when `url` is set, else local mode on files in `path`."""
        if url:
            return cls(AsyncQdrantClient(url=url, api_key=api_key))
        path.mkdir(parents=True, exist_ok=True)
        return cls(AsyncQdrantClient(path=str(path)), local=True)

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

    async def count(self) -> int:
        return (await self._client.count(COLLECTION, exact=True)).count

    async def content_hashes(self) -> dict[str, str]:
        """book id -> content hash of every indexed book."""
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
        await self._client.upsert(
            COLLECTION,
            points=[
                models.PointStruct(
                    id=point_id(book_id), vector=vector, payload={"book_id": book_id, **payload}
                )
                for book_id, vector, payload in rows
            ],
        )

    async def delete(self, book_ids: list[str]) -> None:
        if book_ids:
            await self._client.delete(
                COLLECTION, points_selector=models.PointIdsList(points=[point_id(b) for b in book_ids])
            )

    async def search(self, vector: list[float], queries: list[Query]) -> list[list[VectorHit]]:
        """Several nearest-passage queries for one vector in one round trip, best first in each."""
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

    async def vector_of(self, book_id: str) -> list[float] | None:
        """The stored vector of one book, or None when it is not indexed."""
        points = await self._client.retrieve(COLLECTION, ids=[point_id(book_id)], with_vectors=True)
        if not points or points[0].vector is None:
            return None
        vector = points[0].vector
        assert isinstance(vector, list)
        return [float(x) for x in vector]  # type: ignore[arg-type]

    async def close(self) -> None:
        await self._client.close()
