"""Folio's load tests and benchmarks."""
