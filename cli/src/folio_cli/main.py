"""`folio`: run, check and seed the shop on this machine. Each command lives in `folio_cli.commands`."""

import typer

from folio_cli.commands import assistant, drill, flags, identity, reconcile, run, seed


def create_app() -> typer.Typer:
    """The `folio` command line, composed from its command modules."""
    app = typer.Typer(help="Folio, the cloud-native bookstore: run it locally.", no_args_is_help=True)
    identity_app = typer.Typer(
        help="Identity as code: the Keycloak realm and its LDAP federation.", no_args_is_help=True
    )
    identity_app.command("apply")(identity.apply)
    app.add_typer(identity_app, name="identity")
    flags_app = typer.Typer(
        help="Failure-drill flags in the embedded config center; services apply them live.",
        no_args_is_help=True,
    )
    flags_app.command("list")(flags.list_flags)
    flags_app.command("set")(flags.set_flag)
    flags_app.command("clear")(flags.clear)
    app.add_typer(flags_app, name="flags")
    app.command()(run.up)
    app.command()(drill.drill)
    app.command()(run.status)
    app.command()(seed.seed)
    app.command()(reconcile.reconcile)
    app.command()(assistant.ingest)
    app.command(name="eval")(assistant.evaluate)
    return app


app = create_app()
