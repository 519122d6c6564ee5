"""The `folio` commands, one module per concern; `folio_cli.main` composes them into one CLI."""
