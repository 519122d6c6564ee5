"""The graph: one contract suite on the embedded FalkorDB, and the Neo4j adapter's query
building and result mapping (a Neo4j server exists only in a cluster; see the README)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import neo4j
import pytest

from folio_assistant.cypher import (
    BY_AUTHOR,
    BY_TITLE_AND_SAME_AUTHOR,
    FACTS,
    UPSERT_BOOKS,
    by_facets,
    candidates_query,
)
from folio_assistant.graph import GraphStore, book_row, open_graph
from folio_assistant.model import BookRecord, Genre

if TYPE_CHECKING:
    from conftest import Stores

ADVENTURE, ROMANCE, TRAVEL = (
    Genre("adventure", "Adventure"),
    Genre("romance", "Romance"),
    Genre("travel", "Travel"),
)
BOOKS = [
    BookRecord("moby-dick", "Moby-Dick", "herman-melville", "Herman Melville", 1851, "en", (ADVENTURE,), "Whale.", "American"),
    BookRecord("typee", "Typee", "herman-melville", "Herman Melville", 1846, "en", (ADVENTURE, TRAVEL), "Island.", "American"),
    BookRecord("emma", "Emma", "jane-austen", "Jane Austen", 1815, "en", (ROMANCE,), "Matchmaking.", "English"),
    BookRecord("iliad", "The Iliad", "homer", "Homer", -750, "el", (ADVENTURE,), "Troy.", "Greek"),
]  # fmt: skip


@pytest.fixture
async def graph(stores: Stores) -> GraphStore:
    await stores.graph.upsert_books([book_row(b, b.content_hash()) for b in BOOKS])
    return stores.graph


async def test_upserting_twice_changes_nothing(graph: GraphStore) -> None:
    before = await graph.facts([b.id for b in BOOKS])
    await graph.upsert_books([book_row(b, b.content_hash()) for b in BOOKS])
    assert await graph.facts([b.id for b in BOOKS]) == before
    assert await graph.count_books() == 4


async def test_facts_carry_author_other_books_genres_and_era(graph: GraphStore) -> None:
    facts = await graph.facts(["moby-dick", "iliad", "unknown"])
    assert set(facts) == {"moby-dick", "iliad"}
    moby = facts["moby-dick"]
    assert (moby.author_name, moby.year, moby.era, moby.genres) == (
        "Herman Melville",
        1851,
        "19th century",
        ("Adventure",),
    )
    assert moby.other_books_by_author == (("typee", "Typee"),)
    assert facts["iliad"].era == "Antiquity"
    assert facts["iliad"].other_books_by_author == ()


async def test_a_changed_book_loses_its_old_genre_and_author(graph: GraphStore) -> None:
    moved = BookRecord(
        "typee", "Typee", "jane-austen", "Jane Austen", 1846, "en", (ROMANCE,), "Island.", "English"
    )
    await graph.upsert_books([book_row(moved, moved.content_hash())])
    facts = await graph.facts(["typee", "moby-dick"])
    assert facts["typee"].genres == ("Romance",)
    assert facts["typee"].author_name == "Jane Austen"
    assert facts["moby-dick"].other_books_by_author == ()


async def test_deleting_books_removes_them_and_authors_left_without_books(graph: GraphStore) -> None:
    await graph.delete_books(["emma"])
    names = await graph.names()
    assert "emma" not in names.titles
    assert "jane-austen" not in names.authors
    assert await graph.content_hashes() == {b.id: b.content_hash() for b in BOOKS if b.id != "emma"}


async def test_bought_with_is_replaced_wholesale_and_read_both_ways(graph: GraphStore) -> None:
    await graph.replace_bought_with([("emma", "moby-dick", 2), ("iliad", "moby-dick", 5)])
    facts = await graph.facts(["moby-dick", "emma"])
    assert facts["moby-dick"].bought_with == (("iliad", "The Iliad"), ("emma", "Emma"))  # most bought first
    assert facts["emma"].bought_with == (("moby-dick", "Moby-Dick"),)
    await graph.replace_bought_with([])
    assert (await graph.facts(["emma"]))["emma"].bought_with == ()


async def test_candidates_by_author_title_and_facets(graph: GraphStore) -> None:
    found = await graph.candidates(
        author_ids=["jane-austen"], book_ids=[], genre_ids=[], eras=[], nationalities=[]
    )
    assert [(c.book_id, c.why, c.about) for c in found] == [("emma", "author", "Jane Austen")]
    found = await graph.candidates(
        author_ids=[], book_ids=["moby-dick"], genre_ids=[], eras=[], nationalities=[]
    )
    assert sorted((c.book_id, c.why) for c in found) == [("moby-dick", "title"), ("typee", "same_author")]
    found = await graph.candidates(
        author_ids=[], book_ids=[], genre_ids=["adventure"], eras=["19th century"], nationalities=[]
    )
    assert sorted(c.book_id for c in found) == ["moby-dick", "typee"]
    found = await graph.candidates(author_ids=[], book_ids=[], genre_ids=[], eras=[], nationalities=["Greek"])
    assert [c.book_id for c in found] == ["iliad"]
    found = await graph.candidates(
        author_ids=[], book_ids=[], genre_ids=["travel", "romance"], eras=[], nationalities=["American"]
    )
    assert [c.book_id for c in found] == ["typee"]  # every named facet, any of the named genres
    assert (
        await graph.candidates(
            author_ids=[], book_ids=[], genre_ids=["romance"], eras=["Antiquity"], nationalities=[]
        )
        == []
    )
    assert await graph.candidates(author_ids=[], book_ids=[], genre_ids=[], eras=[], nationalities=[]) == []


async def test_neighbours_are_same_author_bought_with_and_genre_in_era(graph: GraphStore) -> None:
    await graph.replace_bought_with([("emma", "moby-dick", 3)])
    found = {(n.book_id, n.why, n.weight) for n in await graph.neighbours("moby-dick")}
    assert found == {("typee", "same_author", 0), ("emma", "bought_with", 3), ("typee", "genre_era", 1)}


async def test_schema_statements_may_run_again(stores: Stores) -> None:
    await stores.graph.ensure_schema()
    await stores.graph.ensure_schema()


def test_candidate_query_has_only_the_branches_and_facets_asked_for() -> None:
    assert candidates_query(authors=False, books=False, facets=()) == ""
    assert candidates_query(authors=True, books=False, facets=()) == BY_AUTHOR
    every = candidates_query(authors=True, books=True, facets=["eras"])
    assert every.count("UNION ALL") == 2
    assert every.index(BY_AUTHOR) < every.index(BY_TITLE_AND_SAME_AUTHOR) < every.index(by_facets(["eras"]))
    only_era = by_facets(["eras"])
    assert "b.era IN $eras" in only_era
    assert "nationality" not in only_era
    assert "genre_ids" not in only_era
    assert by_facets(["nationalities", "genre_ids"]).count(" AND ") == 1


async def test_a_named_nationality_or_era_is_found_through_an_index(stores: Stores) -> None:
    """The facet branch reads the books of a nationality or an era through that property's index,
    not every book (at 100,000 books that scan alone took 30-80 ms)."""
    graph = stores.graph.runner.graph._graph  # the falkordb Graph: EXPLAIN shows the plan
    for facets, params in (
        (["nationalities"], {"nationalities": ["Greek"]}),
        (["eras", "genre_ids"], {"eras": ["Antiquity"], "genre_ids": ["drama"]}),
        (["nationalities", "eras"], {"nationalities": ["Greek"], "eras": ["Antiquity"]}),
    ):
        plan = graph.explain(by_facets(facets), params | {"facet_limit": 300})
        assert "Node By Index Scan" in str(plan), (facets, str(plan))


class RecordingDriver:
    """Test double of the synchronous neo4j.Driver that LangChain's Neo4jGraph drives: records
    every statement (managed `execute_query` or auto-commit `session().run`) and answers with real
    neo4j Records."""

    def __init__(self, records: list[neo4j.Record]) -> None:
        self.records = records
        self.calls: list[dict[str, Any]] = []
        self.closed = False

    def verify_connectivity(self) -> None:
        pass

    def execute_query(self, query: neo4j.Query, **kwargs: Any) -> tuple[list[neo4j.Record], None, list[str]]:
        self.calls.append(
            {"query": query.text, "params": kwargs["parameters_"], "access": "managed", **kwargs}
        )
        return self.records, None, []

    @contextlib.contextmanager
    def session(self, **config: Any) -> Iterator[Any]:
        driver = self

        class Session:
            def run(self, query: neo4j.Query, params: dict[str, Any]) -> list[neo4j.Record]:
                driver.calls.append({"query": query.text, "params": params, **config})
                return driver.records

        yield Session()

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def neo4j_driver(monkeypatch: pytest.MonkeyPatch) -> list[RecordingDriver]:
    """The drivers LangChain's Neo4jGraph opens, as recording test doubles (no Neo4j server runs here)."""
    opened: list[RecordingDriver] = []
    answers: list[neo4j.Record] = []

    def driver(url: str, **config: Any) -> RecordingDriver:
        opened.append(RecordingDriver(answers))
        opened[-1].calls.append({"url": url, **config})
        return opened[-1]

    monkeypatch.setattr(neo4j.GraphDatabase, "driver", driver)
    return opened


async def test_neo4j_runner_routes_reads_and_writes_and_maps_records(
    neo4j_driver: list[RecordingDriver],
) -> None:
    row = {
        "id": "moby-dick", "title": "Moby-Dick", "year": 1851, "era": "19th century", "description": "Whale.",
        "author_id": "herman-melville", "author_name": "Herman Melville", "nationality": "American",
        "genres": ["Adventure", None], "others": [["typee", "Typee"], [None, None]], "bought": [[None, None]],
    }  # fmt: skip
    graph = open_graph(
        url="neo4j://neo4j.example:7687", directory=Path("unused"), user="folio", password="pw"
    )
    assert graph.engine == "neo4j"
    driver = neo4j_driver[0]
    opened = driver.calls[0]
    assert (opened["url"], opened["auth"]) == ("neo4j://neo4j.example:7687", neo4j.basic_auth("folio", "pw"))
    driver.records.append(neo4j.Record(row))
    facts = await graph.facts(["moby-dick"])
    assert facts["moby-dick"].other_books_by_author == (("typee", "Typee"),)
    assert facts["moby-dick"].genres == ("Adventure",)
    assert facts["moby-dick"].bought_with == ()
    read = driver.calls[-1]
    assert (read["query"], read["params"], read["default_access_mode"], read["database"]) == (
        FACTS,
        {"ids": ["moby-dick"]},
        neo4j.READ_ACCESS,
        "neo4j",
    )
    book = BOOKS[0]
    await graph.upsert_books([book_row(book, "h1")])
    write = driver.calls[-1]
    assert (write["query"], write["access"], write["database_"]) == (UPSERT_BOOKS, "managed", "neo4j")
    assert write["params"]["books"][0]["genre_ids"] == ["adventure"]
    await graph.ensure_schema()
    schema = [c["query"] for c in driver.calls[-5:]]
    assert all("IF NOT EXISTS" in statement for statement in schema)
    assert {s for s in schema if "INDEX" in s} == {
        "CREATE INDEX folio_book_nationality IF NOT EXISTS FOR (n:Book) ON (n.nationality)",
        "CREATE INDEX folio_book_era IF NOT EXISTS FOR (n:Book) ON (n.era)",
    }
    await graph.close()
    assert driver.closed


def test_graph_url_picks_the_engine(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="neo4j://"):
        open_graph(url="http://neo4j.example", directory=tmp_path, user="neo4j", password=None)
