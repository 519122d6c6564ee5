"""The assistant's Cypher: one set of queries for both engines.

(:Author)-[:WROTE]->(:Book)-[:IN_GENRE]->(:Genre), (:Book)-[:IN_ERA]->(:Era) and
(:Book)-[:BOUGHT_WITH {count}]-(:Book) from order history. Books also carry their genre
ids, era and author nationality as properties, so filters need no subqueries: every query
below is plain openCypher that both Neo4j and FalkorDB accept (no APOC, no procedures).
Only the schema statements differ between engines, and they live beside the engines in graph.py.
"""

from collections.abc import Collection

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

# The facet branch filters only on the facets a question names, each a condition on a book
# property: a plain `b.nationality IN $nationalities` lets the engine start from that property's
# index (INDEXED_BOOK_PROPERTIES), where a condition that may be switched off by an empty list
# makes it read every book (30-80 ms at 100,000 books).
FACET_CONDITIONS = {
    "nationalities": "b.nationality IN $nationalities",
    "eras": "b.era IN $eras",
    "genre_ids": "any(g IN b.genre_ids WHERE g IN $genre_ids)",
}
# Book properties with an index besides the id (created by each engine's ensure_schema): the
# facets a question names rarely (a nationality, an era); a genre holds a tenth of the books,
# and the branch's LIMIT ends its scan early.
INDEXED_BOOK_PROPERTIES = ("nationality", "era")


def by_facets(facets: Collection[str]) -> str:
    """The facet branch for the named facets (keys of FACET_CONDITIONS, in that order)."""
    conditions = [condition for facet, condition in FACET_CONDITIONS.items() if facet in facets]
    return f"""
MATCH (b:Book)
WHERE {" AND ".join(conditions)}
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


def candidates_query(*, authors: bool, books: bool, facets: Collection[str]) -> str:
    """The UNION ALL of the candidate branches a question needs (empty when none); `facets` are
    the facets it names (keys of FACET_CONDITIONS)."""
    branches = [q for q, wanted in ((BY_AUTHOR, authors), (BY_TITLE_AND_SAME_AUTHOR, books)) if wanted]
    if facets:
        branches.append(by_facets(facets))
    return "UNION ALL".join(branches)
