"""`folio up` and `folio status`: the whole shop as local processes, and which of them are healthy."""

import signal
from pathlib import Path
from typing import Annotated

import typer

from folio_cli import dev_identity
from folio_cli import observe as observe_mod
from folio_cli.commands.options import (
    DEFAULT_CONFIG_DIR,
    DEFAULT_DATA_DIR,
    ConfigDir,
    DataDir,
    Ports,
    Replicas,
    parse_ports,
    parse_replicas,
)
from folio_cli.launcher import ServiceFailed, Stack
from folio_cli.services import SERVICES, probe


def up(
    data_dir: DataDir = DEFAULT_DATA_DIR,
    port: Ports = None,
    replicas: Replicas = None,
    config_dir: ConfigDir = DEFAULT_CONFIG_DIR,
    raw_logs: Annotated[bool, typer.Option(help="print services' JSON log lines as they are")] = False,
    observe: Annotated[
        bool,
        typer.Option(
            help="also serve each service's metrics and start Prometheus (:9090) and Alertmanager (:9093) "
            "from Debian's packages, with the chart's SLO rules"
        ),
    ] = False,
) -> None:
    """Start every service locally on embedded defaults; Ctrl-C stops them all."""
    metrics_ports = (
        {s.name: s.metrics_port for s in SERVICES if s.metrics_port is not None} if observe else {}
    )
    if observe and observe_mod.find_binary("prometheus") is None:
        typer.secho(
            f"folio up --observe: prometheus is not installed: {observe_mod.INSTALL_HINT}", fg="red", err=True
        )
        raise typer.Exit(1)
    stack = Stack(
        data_dir=data_dir,
        ports=parse_ports(port),
        pretty=not raw_logs,
        replicas=parse_replicas(replicas),
        config_dir=config_dir,
        metrics_ports=metrics_ports,
    )
    observer = observe_mod.Observer(work_dir=data_dir.parent / "observe", metrics_ports=metrics_ports)
    # A SIGTERM (from a supervisor or `timeout`) stops the shop as cleanly as Ctrl-C does.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        took = stack.up()
        if observe:
            observer.start()
    except (ServiceFailed, observe_mod.ObserveUnavailable) as error:
        stack.down()
        typer.secho(f"folio up failed: {error}", fg="red", err=True)
        raise typer.Exit(1) from None
    _print_welcome(stack, took, config_dir, observer if observe else None, metrics_ports, data_dir)
    try:
        exited = stack.watch()
        typer.secho(f"{exited} stopped unexpectedly; stopping the rest", fg="red", err=True)
        raise typer.Exit(1)
    except KeyboardInterrupt:
        typer.echo("\nstopping…")
    finally:
        observer.stop()
        stack.down()


def _print_welcome(
    stack: Stack,
    took: float,
    config_dir: Path,
    observer: observe_mod.Observer | None,
    metrics_ports: dict[str, int],
    data_dir: Path,
) -> None:
    typer.secho(f"\nFolio is up ({took:.1f} s). Open:", fg="green", bold=True)
    for name in stack.instance_of:
        typer.echo(f"  {name:<11} {stack.url(name)}")
    typer.echo(f"  {'api docs':<11} {stack.url('storefront')}docs")
    typer.echo(f"Failure drills: `folio flags list` (config center: {config_dir}/shared.yaml)")
    if observer is not None:
        typer.echo(f"  {'prometheus':<11} {observer.prometheus_url}/alerts  (SLO alerts; /graph to query)")
        if observer.alertmanager_url:
            typer.echo(f"  {'alertmanager':<11} {observer.alertmanager_url}/")
        else:
            typer.echo(f"  alertmanager not installed ({observe_mod.INSTALL_HINT})")
        metrics = ", ".join(f"{n} :{p}" for n, p in metrics_ports.items())
        typer.echo(f"  {'metrics':<11} http://127.0.0.1:<port>/metrics ({metrics})")
    typer.echo("Sign in (development identity provider; passwords made for this data dir):")
    passwords = dev_identity.passwords(data_dir)
    for person in dev_identity.people():
        roles = ", ".join(sorted(person.roles))
        typer.echo(f"  {person.username:<11} {passwords[person.username]}   ({roles})")
    typer.echo("Press Ctrl-C to stop.\n")


def status(port: Ports = None) -> None:
    """Show which local services are up and healthy."""
    chosen = parse_ports(port)
    healthy = True
    for spec in SERVICES:
        ok = probe(spec, chosen[spec.name])
        healthy &= ok
        typer.echo(
            f"{spec.name:<11} 127.0.0.1:{chosen[spec.name]:<6} "
            + typer.style("healthy" if ok else "down", fg="green" if ok else "red")
        )
    if not healthy:
        raise typer.Exit(1)
