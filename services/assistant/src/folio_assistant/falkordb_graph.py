"""FalkorDB embedded, with the interface of LangChain's graph stores.

LangChain's own `FalkorDBGraph` (langchain-community) cannot serve here: it dials a FalkorDB
server over TCP, while the embedded engine (PyPI `falkordblite`) is a private redis-server on a
unix socket, and its `query` returns bare value lists where `Neo4jGraph.query` returns one dict
per row. `EmbeddedFalkorDBGraph` is the thin adapter in its place: `query(cypher, params)` answers
dicts as `Neo4jGraph` does, so one set of Cypher and one mapping of rows serve both engines, and
`get_schema` / `refresh_schema` make it usable by LangChain's graph chains too.

`EmbeddedFalkorDB` owns the redis-server. falkordblite starts it as a daemon and stops it on
close only when a single connection is open — with several (one per thread that queried) it
leaves it running for ever — so `close` drops the connections first, then stops the server.
"""

import threading
from pathlib import Path
from typing import Any

Row = dict[str, Any]

# The schema LangChain's graph chains put in their prompts, read as LangChain's FalkorDBGraph does.
NODE_PROPERTIES = """
MATCH (n)
WITH keys(n) AS keys, labels(n) AS labels
UNWIND labels AS label
UNWIND keys AS key
RETURN label, collect(DISTINCT key) AS keys
"""
RELATIONSHIPS = """
MATCH (n)-[r]->(m)
UNWIND labels(n) AS source
UNWIND labels(m) AS target
RETURN DISTINCT source, type(r) AS type, target
"""


class EmbeddedFalkorDB:
    """One embedded FalkorDB server: its data in `path` (an .rdb file and its append-only log)."""

    def __init__(self, path: Path, *, append_only: bool = True) -> None:
        from redislite.falkordb_client import FalkorDB

        path.parent.mkdir(parents=True, exist_ok=True)
        # Append-only file: a killed assistant loses at most a second of graph writes, and
        # ingestion redoes any book whose graph hash is missing anyway.
        config = {"appendonly": "yes"} if append_only else {}
        self._db = FalkorDB(str(path), serverconfig=config)
        self._lock = threading.Lock()
        self._closed = False

    @property
    def pid(self) -> int | None:
        """The redis-server's process id (None once stopped)."""
        return None if self._closed else int(self._db.client.pid)

    def graph(self, name: str, *, owner: bool = False) -> "EmbeddedFalkorDBGraph":
        """A named graph on this server; closing it stops the server only when it is the `owner`."""
        return EmbeddedFalkorDBGraph(self._db.select_graph(name), server=self if owner else None)

    def close(self) -> None:
        """Stop the redis-server (idempotent); the data stays in its files."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._db.client.connection_pool.disconnect()
            self._db.close()


class EmbeddedFalkorDBGraph:
    """A FalkorDB graph answering `query(cypher, params)` with one dict per row, like `Neo4jGraph`."""

    def __init__(self, graph: Any, *, server: EmbeddedFalkorDB | None = None) -> None:
        self._graph = graph
        self._server = server
        self.schema = ""
        self.structured_schema: dict[str, Any] = {}

    @classmethod
    def open(cls, directory: Path, *, name: str = "folio") -> "EmbeddedFalkorDBGraph":
        """A graph on its own embedded server with its files under `directory`; `close` stops it."""
        return EmbeddedFalkorDB(directory / "graph.rdb").graph(name, owner=True)

    @property
    def get_schema(self) -> str:
        return self.schema

    @property
    def get_structured_schema(self) -> dict[str, Any]:
        return self.structured_schema

    def query(
        self, query: str, params: dict[str, Any] | None = None, *, read_only: bool = False
    ) -> list[Row]:
        """Run one Cypher statement; `read_only` sends it as GRAPH.RO_QUERY (refused if it writes)."""
        call = self._graph.ro_query if read_only else self._graph.query
        result = call(query, params or {})
        names = [column[1] for column in result.header]
        return [dict(zip(names, row, strict=True)) for row in result.result_set]

    def refresh_schema(self) -> None:
        """Read node labels with their property keys, and relationship types, for LLM prompts."""
        nodes = self.query(NODE_PROPERTIES, read_only=True)
        relationships = self.query(RELATIONSHIPS, read_only=True)
        self.structured_schema = {
            "node_props": {str(r["label"]): list(r["keys"]) for r in nodes},
            "relationships": [
                {"start": r["source"], "type": r["type"], "end": r["target"]} for r in relationships
            ],
        }
        self.schema = (
            "Node properties: "
            + "; ".join(
                f"{label} {{{', '.join(keys)}}}"
                for label, keys in self.structured_schema["node_props"].items()
            )
            + "\nRelationships: "
            + "; ".join(
                f"(:{r['start']})-[:{r['type']}]->(:{r['end']})"
                for r in self.structured_schema["relationships"]
            )
        )

    def add_graph_documents(self, graph_documents: list[Any], include_source: bool = False) -> None:
        """Not offered: the assistant's graph is written by its ingestion, from the catalog."""
        raise NotImplementedError(
            "the assistant's graph is written by its ingestion, not from GraphDocuments"
        )

    def close(self) -> None:
        """Stop the embedded server when this graph owns it."""
        if self._server is not None:
            self._server.close()
