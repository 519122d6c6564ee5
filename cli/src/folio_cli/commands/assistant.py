"""`folio ingest` and `folio eval`: the running assistant's index and its evaluation set."""

import asyncio
import time
from typing import TYPE_CHECKING, Annotated

import typer

from folio_cli import dev_identity
from folio_cli.commands.options import (
    DEFAULT_DATA_DIR,
    Address,
    DataDir,
    Ports,
    assistant_address,
    parse_ports,
    progress_bar,
)

if TYPE_CHECKING:
    from folio_assistant.evaluation import Report


def ingest(
    port: Ports = None,
    address: Address = None,
    data_dir: DataDir = DEFAULT_DATA_DIR,
    token: Annotated[
        str | None,
        typer.Option(
            envvar="FOLIO_ACCESS_TOKEN", help="a catalog-admin's access token (default: the local stack's)"
        ),
    ] = None,
) -> None:
    """Bring the assistant's index up to date with the catalog (only changed books), with progress.

    Rebuilding the index is for catalog admins: against the local stack the command acts as the
    assistant's own account; against a cluster, pass an admin's token (--token / FOLIO_ACCESS_TOKEN).
    """
    import grpc

    from folio.assistant.v1 import assistant_pb2, assistant_pb2_grpc
    from folio_platform.auth import bearer
    from folio_platform.errors import Unauthenticated

    if token is None:
        try:
            token = dev_identity.service_token(
                data_dir, f"http://127.0.0.1:{parse_ports(port)['dev-oidc']}", "folio-assistant"
            )
        except Unauthenticated as error:
            typer.secho(
                f"ingest: {error.message} (is `folio up` running? else pass --token)", fg="red", err=True
            )
            raise typer.Exit(2) from None
    phases = {
        assistant_pb2.INGEST_PHASE_READING_CATALOG: "reading the catalog",
        assistant_pb2.INGEST_PHASE_INDEXING: "indexing",
        assistant_pb2.INGEST_PHASE_ORDERS: "reading orders",
        assistant_pb2.INGEST_PHASE_DONE: "done",
        assistant_pb2.INGEST_PHASE_FAILED: "failed",
    }
    target = assistant_address(port, address)
    last = assistant_pb2.IngestProgress()
    started = time.monotonic()
    try:
        with grpc.insecure_channel(target) as channel, progress_bar() as bar:
            task = bar.add_task("connecting", total=None)
            for last in assistant_pb2_grpc.AssistantServiceStub(channel).Ingest(
                assistant_pb2.IngestRequest(), metadata=bearer(token)
            ):
                bar.update(
                    task,
                    description=phases.get(last.phase, "starting"),
                    total=last.to_index or None,
                    completed=last.indexed,
                )
    except grpc.RpcError as error:
        typer.secho(f"cannot reach the assistant at {target}: {error.code().name}", fg="red", err=True)
        raise typer.Exit(1) from None
    summary = (
        f"{last.catalog_books} catalog books: {last.indexed} (re)indexed, {last.removed} removed, "
        f"{last.catalog_books - last.to_index} unchanged, {last.purchase_pairs} bought-together pairs "
        f"({time.monotonic() - started:.1f} s)"
    )
    if last.note:
        summary += f"\nnote: {last.note}"
    if last.phase != assistant_pb2.INGEST_PHASE_DONE:
        typer.secho(f"ingest failed: {summary}", fg="red", err=True)
        raise typer.Exit(1)
    typer.echo(summary)


def evaluate(
    port: Ports = None,
    address: Address = None,
    fail_under: Annotated[float, typer.Option(help="exit 1 when recall@5 is below this")] = 0.0,
    precision_under: Annotated[
        float, typer.Option(help="exit 1 when citation precision is below this")
    ] = 0.0,
) -> None:
    """Run the evaluation set through the running assistant: recall@5, MRR, citation precision."""
    import grpc

    from folio.assistant.v1 import assistant_pb2, assistant_pb2_grpc

    try:
        from folio_assistant.evaluation import evaluate as run_evaluation
        from folio_assistant.evaluation import format_report, load_questions
    except ImportError:
        typer.secho(
            "folio eval needs the assistant's evaluation set: install folio-cli[eval]", fg="red", err=True
        )
        raise typer.Exit(2) from None

    target = assistant_address(port, address)

    async def run() -> "Report":
        async with grpc.aio.insecure_channel(target) as channel:
            stub = assistant_pb2_grpc.AssistantServiceStub(channel)

            async def search(question: str) -> list[str]:
                reply = await stub.SemanticSearch(
                    assistant_pb2.SemanticSearchRequest(query=question, limit=10), timeout=30
                )
                return [hit.book_id for hit in reply.hits]

            async def ask(question: str) -> list[str]:
                cited: list[str] = []
                async for event in stub.Ask(assistant_pb2.AskRequest(question=question), timeout=120):
                    if event.HasField("done"):
                        cited = [c.book_id for c in event.done.citations]
                return cited

            return await run_evaluation(load_questions(), search=search, ask=ask)

    try:
        report = asyncio.run(run())
    except grpc.aio.AioRpcError as error:
        typer.secho(f"cannot reach the assistant at {target}: {error.code().name}", fg="red", err=True)
        raise typer.Exit(1) from None
    typer.echo(format_report(report))
    if report.recall_at_5 < fail_under:
        typer.secho(f"recall@5 {report.recall_at_5:.3f} is below {fail_under}", fg="red", err=True)
        raise typer.Exit(1)
    precision = report.citation_precision or 0.0
    if precision < precision_under:
        typer.secho(f"citation precision {precision:.3f} is below {precision_under}", fg="red", err=True)
        raise typer.Exit(1)
