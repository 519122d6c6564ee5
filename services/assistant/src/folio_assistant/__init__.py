"""Folio's assistant: semantic search, graph-grounded answers with citations, similar books."""
