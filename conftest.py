"""Repository-wide pytest setup: real PostgreSQL and Redis fixtures for every test suite."""

pytest_plugins = ["folio_testing.plugin"]
