"""FalkorDB embedded behind the interface of LangChain's graph stores, and its redis-server's life:
closing the graph store stops the server, however many threads queried it."""

import threading
from pathlib import Path

import psutil
import pytest

from folio_assistant.falkordb_graph import EmbeddedFalkorDB, EmbeddedFalkorDBGraph
from folio_assistant.graph import open_graph


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_query_answers_one_dict_per_row_like_neo4j_graph(falkordb: EmbeddedFalkorDB) -> None:
    graph = falkordb.graph("adapter")
    graph.query("CREATE (:Author {id: 'a', name: 'Homer'})-[:WROTE]->(:Book {id: 'iliad', year: -750})")
    rows = graph.query(
        "MATCH (a:Author)-[:WROTE]->(b:Book) WHERE b.id = $id RETURN a.name AS author, b.year AS year",
        {"id": "iliad"},
        read_only=True,
    )
    assert rows == [{"author": "Homer", "year": -750}]
    with pytest.raises(Exception, match=r"(?i)read.only|RO_QUERY|write"):
        graph.query("CREATE (:Book {id: 'x'})", read_only=True)
    graph.refresh_schema()
    assert set(graph.get_structured_schema["node_props"]["Book"]) == {"id", "year"}
    assert {"start": "Author", "type": "WROTE", "end": "Book"} in graph.get_structured_schema["relationships"]
    assert "(:Author)-[:WROTE]->(:Book)" in graph.get_schema


def test_closing_stops_the_server_even_after_queries_from_several_threads(tmp_path: Path) -> None:
    graph = EmbeddedFalkorDBGraph.open(tmp_path)
    assert graph._server is not None
    pid = graph._server.pid
    assert pid is not None
    graph.query("CREATE (:Book {id: 'iliad'})")

    def ask() -> None:
        for _ in range(20):
            assert graph.query("MATCH (b:Book) RETURN b.id AS id", read_only=True) == [{"id": "iliad"}]

    threads = [threading.Thread(target=ask) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    graph.close()
    graph.close()  # idempotent
    assert _gone(pid)


async def test_the_graph_store_from_open_graph_stops_its_server_on_close(tmp_path: Path) -> None:
    store = open_graph(url=None, directory=tmp_path, user="", password=None)
    pid = store.langchain._server.pid
    await store.ensure_schema()
    await store.count_books()
    await store.close()
    assert _gone(pid)
    reopened = open_graph(url=None, directory=tmp_path, user="", password=None)
    try:
        assert await reopened.count_books() == 0
    finally:
        await reopened.close()
