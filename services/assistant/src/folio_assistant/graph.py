"""The knowledge graph: one interface, one set of Cypher queries, two engines.

(:Author)-[:WROTE]->(:Book)-[:IN_GENRE]->(:Genre), (:Book)-[:IN_ERA]->(:Era) and
(:Book)-[:BOUGHT_WITH {count}]-(:Book) from order history. Books also carry their genre
ids, era and author nationality as properties, so filters need no subqueries: every query
below is plain openCypher that both Neo4j and FalkorDB accept. Only the schema statements
differ between engines, and they live in the runners.
"""

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from folio_assistant.model import BookFacts, BookRecord

log = logging.getLogger(__name__)

Row = dict[str, Any]


class CypherRunner(Protocol):
    """Runs one Cypher statement against an engine and returns rows as dicts."""

    engine: str

    async def run(self, query: str, params: dict[str, Any], *, write: bool = False) -> list[Row]: ...

    async def ensure_schema(self) -> None: ...

    async def close(self) -> None: ...


# Relations to a book's author, genres and era are replaced wholesale on every upsert, so a
# book that changed genre loses the old one; BOUGHT_WITH (book to book) is left alone.
DETACH_BOOK_FACTS = """
UNWIND $ids AS id
MATCH (b:Book {id: id})-[r]-(x)
WHERE NOT x:Book
DELETE r
"""

UPSERT_BOOKS = """
UNWIND $books AS row
MERGE (b:Book {id: row.id})
SET b.title = row.title, b.year = row.year, b.language = row.language,
    b.description = row.description, b.era = row.era, b.genre_ids = row.genre_ids,
    b.nationality = row.author_nationality, b.hash = row.hash
MERGE (a:Author {id: row.author_id})
SET a.name = row.author_name, a.nationality = row.author_nationality
MERGE (a)-[:WROTE]->(b)
MERGE (e:Era {name: row.era})
MERGE (b)-[:IN_ERA]->(e)
WITH b, row
UNWIND row.genres AS genre
MERGE (g:Genre {id: genre.id})
SET g.name = genre.name
MERGE (b)-[:IN_GENRE]->(g)
"""

DELETE_BOOKS = """
UNWIND $ids AS id
MATCH (b:Book {id: id})
DETACH DELETE b
"""

DELETE_ORPHAN_AUTHORS = """
MATCH (a:Author)
WHERE NOT (a)-[:WROTE]->(:Book)
DELETE a
"""

CLEAR_BOUGHT_WITH = """
MATCH (:Book)-[r:BOUGHT_WITH]->(:Book)
DELETE r
"""

ADD_BOUGHT_WITH = """
UNWIND $pairs AS pair
MATCH (a:Book {id: pair.a}), (b:Book {id: pair.b})
MERGE (a)-[r:BOUGHT_WITH]->(b)
SET r.count = pair.count
"""

COUNT_BOOKS = "MATCH (b:Book) RETURN count(b) AS books"

HASHES = "MATCH (b:Book) RETURN b.id AS id, b.hash AS hash"

NAMES = """
MATCH (a:Author)-[:WROTE]->(b:Book)
RETURN a.id AS author_id, a.name AS author_name, a.nationality AS nationality,
       b.id AS book_id, b.title AS title
"""

# The words of every book, for the lexical index.
TEXTS = """
MATCH (a:Author)-[:WROTE]->(b:Book)
OPTIONAL MATCH (b)-[:IN_GENRE]->(g:Genre)
RETURN b.id AS id, b.title AS title, b.description AS description, b.era AS era,
       a.name AS author_name, a.nationality AS nationality, collect(g.name) AS genres
"""

FACTS = """
UNWIND $ids AS id
MATCH (a:Author)-[:WROTE]->(b:Book {id: id})
OPTIONAL MATCH (b)-[:IN_GENRE]->(g:Genre)
WITH a, b, collect(g.name) AS genres
OPTIONAL MATCH (a)-[:WROTE]->(other:Book)
WHERE other.id <> b.id
WITH a, b, genres, collect([other.id, other.title]) AS others
OPTIONAL MATCH (b)-[p:BOUGHT_WITH]-(w:Book)
WITH a, b, genres, others, w, p
ORDER BY p.count DESC
RETURN b.id AS id, b.title AS title, b.year AS year, b.era AS era, b.description AS description,
       a.id AS author_id, a.name AS author_name, a.nationality AS nationality,
       genres, others, collect([w.id, w.title]) AS bought
"""

# Candidate branches for entity-linked questions, joined with UNION ALL as needed.
BY_AUTHOR = """
MATCH (a:Author)-[:WROTE]->(b:Book)
WHERE a.id IN $author_ids
RETURN b.id AS id, 'author' AS why, a.name AS about
"""

BY_TITLE_AND_SAME_AUTHOR = """
MATCH (x:Book)<-[:WROTE]-(a:Author)-[:WROTE]->(b:Book)
WHERE x.id IN $book_ids
RETURN b.id AS id, CASE WHEN b.id = x.id THEN 'title' ELSE 'same_author' END AS why, x.title AS about
"""

BY_FACETS = """
MATCH (b:Book)
WHERE (size($genre_ids) = 0 OR any(g IN b.genre_ids WHERE g IN $genre_ids))
  AND (size($eras) = 0 OR b.era IN $eras)
  AND (size($nationalities) = 0 OR b.nationality IN $nationalities)
RETURN b.id AS id, 'facets' AS why, '' AS about
LIMIT $facet_limit
"""

NEIGHBOURS = """
MATCH (b:Book {id: $id})<-[:WROTE]-(a:Author)-[:WROTE]->(o:Book)
WHERE o.id <> b.id
RETURN o.id AS id, 'same_author' AS why, 0 AS weight
UNION ALL
MATCH (b:Book {id: $id})-[r:BOUGHT_WITH]-(o:Book)
RETURN o.id AS id, 'bought_with' AS why, r.count AS weight
UNION ALL
MATCH (b:Book {id: $id})-[:IN_GENRE]->(:Genre)<-[:IN_GENRE]-(o:Book)
WHERE o.id <> b.id AND o.era = b.era
WITH o, count(*) AS shared
ORDER BY shared DESC
LIMIT $limit
RETURN o.id AS id, 'genre_era' AS why, shared AS weight
"""


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


def candidates_query(*, authors: bool, books: bool, facets: bool) -> str:
    """The UNION ALL of the candidate branches a question needs (empty when none)."""
    branches = [
        q
        for q, wanted in ((BY_AUTHOR, authors), (BY_TITLE_AND_SAME_AUTHOR, books), (BY_FACETS, facets))
        if wanted
    ]
    return "UNION ALL".join(branches)


class GraphStore:
    """The assistant's graph operations, over any engine's CypherRunner."""

    def __init__(self, runner: CypherRunner) -> None:
        self.runner = runner

    @property
    def engine(self) -> str:
        return self.runner.engine

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
        facets = bool(genre_ids or eras or nationalities)
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
    """FalkorDB through its own client: embedded (falkordblite, a private redis-server under
    data_dir on a unix socket) or a FalkorDB server. The client is synchronous: calls run in
    a worker thread (a query is well under a millisecond)."""

    engine = "falkordb"

    def __init__(self, graph: Any, closer: Any = None) -> None:
        self._graph = graph
        self._closer = closer

    @classmethod
    def embedded(cls, directory: Path, *, graph_name: str = "folio") -> "FalkorRunner":
        from redislite.falkordb_client import FalkorDB

        directory.mkdir(parents=True, exist_ok=True)
        # Append-only file: a killed assistant loses at most a second of graph writes, and
        # ingestion redoes any book whose graph hash is missing anyway.
        db = FalkorDB(str(directory / "graph.rdb"), serverconfig={"appendonly": "yes"})
        return cls(db.select_graph(graph_name), closer=db.close)

    async def run(self, query: str, params: dict[str, Any], *, write: bool = False) -> list[Row]:
        call = self._graph.query if write else self._graph.ro_query
        result = await asyncio.to_thread(call, query, params)
        names = [column[1] for column in result.header]
        return [dict(zip(names, row, strict=True)) for row in result.result_set]

    async def ensure_schema(self) -> None:
        for label in ("Book", "Author", "Genre"):
            try:
                await self.run(f"CREATE INDEX FOR (n:{label}) ON (n.id)", {}, write=True)
            except Exception as error:
                # FalkorDB has no IF NOT EXISTS: an existing index is reported as an error.
                if "already indexed" not in str(error):
                    raise

    async def close(self) -> None:
        if self._closer is not None:
            await asyncio.to_thread(self._closer)


class Neo4jRunner:
    """Neo4j through the official async driver (a server in the cluster: neo4j:// or bolt://)."""

    engine = "neo4j"
    SCHEMA = (
        "CREATE CONSTRAINT folio_book_id IF NOT EXISTS FOR (n:Book) REQUIRE n.id IS UNIQUE",
        "CREATE CONSTRAINT folio_author_id IF NOT EXISTS FOR (n:Author) REQUIRE n.id IS UNIQUE",
        "CREATE CONSTRAINT folio_genre_id IF NOT EXISTS FOR (n:Genre) REQUIRE n.id IS UNIQUE",
    )

    def __init__(self, driver: Any, *, database: str | None = None) -> None:
        self._driver = driver
        self._database = database

    @classmethod
    def connect(cls, url: str, *, user: str, password: str | None) -> "Neo4jRunner":
        import neo4j

        auth = (user, password) if password is not None else None
        return cls(neo4j.AsyncGraphDatabase.driver(url, auth=auth))

    async def run(self, query: str, params: dict[str, Any], *, write: bool = False) -> list[Row]:
        import neo4j

        routing = neo4j.RoutingControl.WRITE if write else neo4j.RoutingControl.READ
        result = await self._driver.execute_query(query, params, routing_=routing, database_=self._database)
        return [record.data() for record in result.records]

    async def ensure_schema(self) -> None:
        for statement in self.SCHEMA:
            await self.run(statement, {}, write=True)

    async def close(self) -> None:
        await self._driver.close()


def open_graph(*, url: str | None, directory: Path, user: str, password: str | None) -> GraphStore:
    """Neo4j when a neo4j:// or bolt:// URL is set, else FalkorDB embedded under `directory`."""
    if url:
        if not url.startswith(("neo4j://", "neo4j+s://", "bolt://", "bolt+s://")):
            raise ValueError(f"graph URL must be neo4j://… or bolt://…, not {url!r}")
        return GraphStore(Neo4jRunner.connect(url, user=user, password=password))
    return GraphStore(FalkorRunner.embedded(directory))
