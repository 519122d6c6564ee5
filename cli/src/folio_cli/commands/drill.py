"""`folio drill`: SIGKILL each service under steady traffic on a stack of the drill's own."""

from pathlib import Path
from typing import Annotated

import typer

from folio_cli.commands.options import DataDir
from folio_cli.commands.reconcile import reconcile
from folio_cli.launcher import Stack
from folio_cli.services import SERVICES


def drill(
    victims: Annotated[
        list[str] | None, typer.Argument(help="services to kill, in turn (default: all but storefront)")
    ] = None,
    data_dir: DataDir = Path(".folio/drill"),
    down_seconds: Annotated[float, typer.Option(help="how long each victim stays dead")] = 3.0,
) -> None:
    """Failure drills: SIGKILL each service under steady traffic on a stack of the drill's own, restart
    it, and report what shoppers saw; then check orders and payments still reconcile."""
    from folio_cli.drills import free_ports, kill_and_restart

    names = [s.name for s in SERVICES]
    chosen = victims or [n for n in names if n != "storefront"]
    if unknown := [v for v in chosen if v not in names]:
        raise typer.BadParameter(f"unknown service {unknown[0]!r}; one of {', '.join(names)}")
    data_dir.mkdir(parents=True, exist_ok=True)
    with open(data_dir / "drill.log", "w") as log:
        stack = Stack(data_dir=data_dir, ports=free_ports(names), output=log)
        try:
            stack.up()
            results = [kill_and_restart(stack, victim, down_seconds=down_seconds) for victim in chosen]
            for result in results:
                typer.echo(result.summary())
            try:
                reconcile([f"{n}={p}" for n, p in stack.ports.items()], data_dir)
                reconciled = True
            except typer.Exit as exit_:
                reconciled = exit_.exit_code == 0
        finally:
            stack.down()
    typer.echo(f"service logs: {data_dir / 'drill.log'}")
    if any(r.problems for r in results) or not reconciled:
        raise typer.Exit(1)
