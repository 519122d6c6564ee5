"""The folio command-line tool."""
