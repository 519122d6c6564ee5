"""The knowledge graph: Folio's graph operations over a LangChain graph store, two engines.

The queries are one set of openCypher (`cypher.py`). They run through the interface LangChain's
graph stores share, `query(cypher, params)` answering one dict per row: `langchain_neo4j.Neo4jGraph`
on a Neo4j server (the cluster), `EmbeddedFalkorDBGraph` on FalkorDB embedded (the default). The
stores are synchronous: each statement runs in a worker thread, so the event loop never blocks.
"""

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from folio_assistant.cypher import (
    ADD_BOUGHT_WITH,
    CLEAR_BOUGHT_WITH,
    COUNT_BOOKS,
    DELETE_BOOKS,
    DELETE_ORPHAN_AUTHORS,
    DETACH_BOOK_FACTS,
    FACTS,
    HASHES,
    INDEXED_BOOK_PROPERTIES,
    NAMES,
    NEIGHBOURS,
    TEXTS,
    UPSERT_BOOKS,
    candidates_query,
)
from folio_assistant.falkordb_graph import EmbeddedFalkorDBGraph
from folio_assistant.model import BookFacts, BookRecord

if TYPE_CHECKING:
    from langchain_neo4j import Neo4jGraph

log = logging.getLogger(__name__)

Row = dict[str, Any]


class CypherRunner(Protocol):
    """Runs one Cypher statement against an engine and returns rows as dicts."""

    engine: str
    graph: Any  # the LangChain graph store it runs statements on

    async def run(self, query: str, params: dict[str, Any], *, write: bool = False) -> list[Row]: ...

    async def ensure_schema(self) -> None: ...

    async def close(self) -> None: ...


@dataclass(frozen=True)
class Names:
    """Everything entity linking needs, read from the graph in one query."""

    authors: dict[str, str]  # author id -> name
    nationalities: set[str]
    titles: dict[str, str]  # book id -> title


@dataclass(frozen=True)
class Candidate:
    book_id: str
    why: str  # author | title | same_author | facets
    about: str


@dataclass(frozen=True)
class Neighbour:
    book_id: str
    why: str  # same_author | bought_with | genre_era
    weight: int


def _pairs(values: Sequence[Sequence[Any]]) -> tuple[tuple[str, str], ...]:
    # OPTIONAL MATCH with nothing found collects [null, null]; drop those and duplicates.
    seen: dict[str, str] = {}
    for value in values:
        if value and value[0] is not None and value[0] not in seen:
            seen[str(value[0])] = str(value[1])
    return tuple(seen.items())


def book_row(book: BookRecord, content_hash: str) -> Row:
    """A book as the UPSERT_BOOKS parameters want it."""
    return {
        "id": book.id,
        "title": book.title,
        "year": book.year,
        "language": book.language,
        "description": book.description,
        "era": book.era,
        "genre_ids": [g.id for g in book.genres],
        "genres": [{"id": g.id, "name": g.name} for g in book.genres],
        "author_id": book.author_id,
        "author_name": book.author_name,
        "author_nationality": book.author_nationality,
        "hash": content_hash,
    }


def facts_from_row(row: Row) -> BookFacts:
    """Maps one FACTS row (from either engine) to BookFacts."""
    return BookFacts(
        id=str(row["id"]),
        title=str(row["title"]),
        author_id=str(row["author_id"]),
        author_name=str(row["author_name"]),
        year=int(row["year"]),
        era=str(row["era"]),
        genres=tuple(sorted({str(g) for g in row["genres"] if g is not None})),
        description=str(row["description"] or ""),
        author_nationality=str(row["nationality"] or ""),
        other_books_by_author=_pairs(row["others"])[:8],
        bought_with=_pairs(row["bought"])[:5],
    )


class GraphStore:
    """The assistant's graph operations, over any engine's CypherRunner."""

    def __init__(self, runner: CypherRunner) -> None:
        self.runner = runner

    @property
    def engine(self) -> str:
        return self.runner.engine

    @property
    def langchain(self) -> Any:
        """The LangChain graph store underneath (`Neo4jGraph` or `EmbeddedFalkorDBGraph`), e.g. for
        LangChain's graph QA chains."""
        return self.runner.graph

    async def ensure_schema(self) -> None:
        await self.runner.ensure_schema()

    async def upsert_books(self, rows: list[Row]) -> None:
        """Create or update books with their author, era and genres (idempotent)."""
        if not rows:
            return
        await self.runner.run(DETACH_BOOK_FACTS, {"ids": [r["id"] for r in rows]}, write=True)
        await self.runner.run(UPSERT_BOOKS, {"books": rows}, write=True)

    async def delete_books(self, book_ids: list[str]) -> None:
        if book_ids:
            await self.runner.run(DELETE_BOOKS, {"ids": book_ids}, write=True)
            await self.runner.run(DELETE_ORPHAN_AUTHORS, {}, write=True)

    async def replace_bought_with(self, pairs: list[tuple[str, str, int]]) -> None:
        """Make BOUGHT_WITH exactly these (book a, book b, times bought together) pairs."""
        await self.runner.run(CLEAR_BOUGHT_WITH, {}, write=True)
        for start in range(0, len(pairs), 500):
            chunk = pairs[start : start + 500]
            params = {"pairs": [{"a": a, "b": b, "count": n} for a, b, n in chunk]}
            await self.runner.run(ADD_BOUGHT_WITH, params, write=True)

    async def count_books(self) -> int:
        rows = await self.runner.run(COUNT_BOOKS, {})
        return int(rows[0]["books"]) if rows else 0

    async def content_hashes(self) -> dict[str, str]:
        """book id -> content hash of every book in the graph."""
        return {str(r["id"]): str(r["hash"]) for r in await self.runner.run(HASHES, {})}

    async def names(self) -> Names:
        rows = await self.runner.run(NAMES, {})
        return Names(
            authors={str(r["author_id"]): str(r["author_name"]) for r in rows},
            nationalities={str(r["nationality"]) for r in rows if r["nationality"]},
            titles={str(r["book_id"]): str(r["title"]) for r in rows},
        )

    async def texts(self) -> dict[str, str]:
        """book id -> its words: title, author, nationality, genres, period and description."""
        rows = await self.runner.run(TEXTS, {})
        return {
            str(r["id"]): " ".join(
                str(part)
                for part in (
                    r["title"],
                    r["author_name"],
                    r["nationality"] or "",
                    " ".join(str(g) for g in r["genres"] if g is not None),
                    r["era"] or "",
                    r["description"] or "",
                )
            )
            for r in rows
        }

    async def facts(self, book_ids: list[str]) -> dict[str, BookFacts]:
        """Each book with author, genres, era, other books by the author, books bought with it."""
        if not book_ids:
            return {}
        rows = await self.runner.run(FACTS, {"ids": book_ids})
        return {str(r["id"]): facts_from_row(r) for r in rows}

    async def candidates(
        self,
        *,
        author_ids: list[str],
        book_ids: list[str],
        genre_ids: list[str],
        eras: list[str],
        nationalities: list[str],
        facet_limit: int = 300,
    ) -> list[Candidate]:
        """Books the question names: by a named author, a named title and its author's other books,
        or matching every named genre, era and nationality."""
        named = {"genre_ids": genre_ids, "eras": eras, "nationalities": nationalities}
        facets = [facet for facet, values in named.items() if values]
        query = candidates_query(authors=bool(author_ids), books=bool(book_ids), facets=facets)
        if not query:
            return []
        params = {
            "author_ids": author_ids,
            "book_ids": book_ids,
            "genre_ids": genre_ids,
            "eras": eras,
            "nationalities": nationalities,
            "facet_limit": facet_limit,
        }
        rows = await self.runner.run(query, params)
        return [Candidate(str(r["id"]), str(r["why"]), str(r["about"] or "")) for r in rows]

    async def neighbours(self, book_id: str, *, limit: int = 40) -> list[Neighbour]:
        """Graph proximity: same author, bought together, and sharing genres within the same era."""
        rows = await self.runner.run(NEIGHBOURS, {"id": book_id, "limit": limit})
        return [Neighbour(str(r["id"]), str(r["why"]), int(r["weight"] or 0)) for r in rows]

    async def close(self) -> None:
        await self.runner.close()


class FalkorRunner:
    """FalkorDB embedded through `EmbeddedFalkorDBGraph` (reads as GRAPH.RO_QUERY, about 0.2 ms each)."""

    engine = "falkordb"

    def __init__(self, graph: EmbeddedFalkorDBGraph) -> None:
        self.graph = graph

    async def run(self, query: str, params: dict[str, Any], *, write: bool = False) -> list[Row]:
        return await asyncio.to_thread(self.graph.query, query, params, read_only=not write)

    async def ensure_schema(self) -> None:
        indexes = [(label, "id") for label in ("Book", "Author", "Genre")]
        indexes += [("Book", name) for name in INDEXED_BOOK_PROPERTIES]
        for label, name in indexes:
            try:
                await self.run(f"CREATE INDEX FOR (n:{label}) ON (n.{name})", {}, write=True)
            except Exception as error:
                # FalkorDB has no IF NOT EXISTS: an existing index is reported as an error.
                if "already indexed" not in str(error):
                    raise

    async def close(self) -> None:
        await asyncio.to_thread(self.graph.close)


class Neo4jRunner:
    """Neo4j through LangChain's `Neo4jGraph` (the official driver): writes as managed transactions
    routed to the leader, reads as auto-commit queries routed to any member (one round trip each)."""

    engine = "neo4j"
    SCHEMA = (
        "CREATE CONSTRAINT folio_book_id IF NOT EXISTS FOR (n:Book) REQUIRE n.id IS UNIQUE",
        "CREATE CONSTRAINT folio_author_id IF NOT EXISTS FOR (n:Author) REQUIRE n.id IS UNIQUE",
        "CREATE CONSTRAINT folio_genre_id IF NOT EXISTS FOR (n:Genre) REQUIRE n.id IS UNIQUE",
        *(
            f"CREATE INDEX folio_book_{name} IF NOT EXISTS FOR (n:Book) ON (n.{name})"
            for name in INDEXED_BOOK_PROPERTIES
        ),
    )

    def __init__(self, graph: "Neo4jGraph") -> None:
        import neo4j

        self.graph = graph
        self._read = {"default_access_mode": neo4j.READ_ACCESS}

    @classmethod
    def connect(
        cls, url: str, *, user: str, password: str | None, database: str | None = None
    ) -> "Neo4jRunner":
        """Connects (and checks the connection) now; the schema is not scanned (no APOC needed)."""
        from langchain_neo4j import Neo4jGraph

        username, secret = (user, password) if password is not None else ("", "")
        graph = Neo4jGraph(
            url=url, username=username, password=secret, database=database, refresh_schema=False
        )
        return cls(graph)

    async def run(self, query: str, params: dict[str, Any], *, write: bool = False) -> list[Row]:
        if write:
            return await asyncio.to_thread(self.graph.query, query, params)
        return await asyncio.to_thread(self.graph.query, query, params, session_params=self._read)

    async def ensure_schema(self) -> None:
        for statement in self.SCHEMA:
            await self.run(statement, {}, write=True)

    async def close(self) -> None:
        await asyncio.to_thread(self.graph.close)


def open_graph(*, url: str | None, directory: Path, user: str, password: str | None) -> GraphStore:
    """Neo4j when a neo4j:// or bolt:// URL is set, else FalkorDB embedded under `directory`."""
    if url:
        if not url.startswith(("neo4j://", "neo4j+s://", "bolt://", "bolt+s://")):
            raise ValueError(f"graph URL must be neo4j://… or bolt://…, not {url!r}")
        return GraphStore(Neo4jRunner.connect(url, user=user, password=password))
    return GraphStore(FalkorRunner(EmbeddedFalkorDBGraph.open(directory)))
