"""Options and argument parsing shared by several commands."""

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from folio_cli.services import SERVICES

if TYPE_CHECKING:
    from rich.progress import Progress

DataDir = Annotated[Path, typer.Option(help="where embedded databases live")]
Ports = Annotated[list[str] | None, typer.Option("--port", help="override a port: NAME=PORT (repeatable)")]
Replicas = Annotated[
    list[str] | None,
    typer.Option("--replicas", help="run N instances of a gRPC service: NAME=N (repeatable)"),
]
ConfigDir = Annotated[
    Path, typer.Option(help="the embedded config center's directory (shared.yaml, <service>.yaml)")
]
Address = Annotated[str | None, typer.Option(help="the assistant's host:port (default: the local one)")]
DEFAULT_DATA_DIR = Path(".folio/data")
DEFAULT_CONFIG_DIR = Path(".folio/config")


def parse_ports(overrides: list[str] | None) -> dict[str, int]:
    """Every service's local port: its default, or NAME=PORT from the command line."""
    chosen = {s.name: s.default_port for s in SERVICES}
    for item in overrides or []:
        name, sep, port = item.partition("=")
        if not sep or name not in chosen or not port.isdigit():
            raise typer.BadParameter(f"{item!r}: expected NAME=PORT with NAME one of {', '.join(chosen)}")
        chosen[name] = int(port)
    return chosen


def parse_replicas(items: list[str] | None) -> dict[str, int]:
    """Instances per gRPC service from NAME=N items (1 to 8 each)."""
    replicable = [s.name for s in SERVICES if s.probe == "grpc"]
    counts = {}
    for item in items or []:
        name, sep, count = item.partition("=")
        if not sep or name not in replicable or not count.isdigit() or not 1 <= int(count) <= 8:
            raise typer.BadParameter(
                f"{item!r}: expected NAME=N with N from 1 to 8 and NAME one of {', '.join(replicable)}"
            )
        counts[name] = int(count)
    return counts


def assistant_address(port: list[str] | None, address: str | None) -> str:
    return address or f"127.0.0.1:{parse_ports(port)['assistant']}"


def progress_bar() -> "Progress":
    """The one progress bar of the CLI: what is happening, the bar, done/total and the time taken."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(
        TextColumn("{task.description:<20}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()
    )
