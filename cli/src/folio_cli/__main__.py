from folio_cli.main import app

app()
