"""`folio flags list | set | clear`: failure drills in the embedded config center, applied live."""

from typing import Annotated

import typer

from folio_cli import flags
from folio_cli.commands.options import DEFAULT_CONFIG_DIR, ConfigDir


def list_flags(config_dir: ConfigDir = DEFAULT_CONFIG_DIR) -> None:
    """Every failure-drill flag: its value now, its default and what it does."""
    try:
        values = flags.current(config_dir)
    except flags.FlagError as error:
        typer.secho(f"folio flags: {error}", fg="red", err=True)
        raise typer.Exit(1) from None
    for flag in flags.all_flags():
        value = values[flag.name]
        on = value != flag.default
        shown = typer.style(f"{value!s:<6}", fg="yellow", bold=True) if on else f"{value!s:<6}"
        typer.echo(f"{flag.name:<38} {shown} (default {flag.default!s:<5}) {flag.description}")


def set_flag(
    name: Annotated[str, typer.Argument(help="section.flag, e.g. payment.failure_rate")],
    value: Annotated[str, typer.Argument(help="e.g. 0.5, 300, true")],
    config_dir: ConfigDir = DEFAULT_CONFIG_DIR,
) -> None:
    """Turn a drill on (or change it); running services apply it within about a second."""
    try:
        stored = flags.set_flag(config_dir, name, value)
    except flags.FlagError as error:
        typer.secho(f"folio flags set: {error}", fg="red", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"{name} = {stored}")


def clear(
    name: Annotated[str | None, typer.Argument(help="one flag; without it, every flag")] = None,
    config_dir: ConfigDir = DEFAULT_CONFIG_DIR,
) -> None:
    """Back to defaults: one flag, or all of them."""
    try:
        cleared = flags.clear(config_dir, name)
    except flags.FlagError as error:
        typer.secho(f"folio flags clear: {error}", fg="red", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"cleared: {', '.join(cleared)}" if cleared else "nothing to clear")
