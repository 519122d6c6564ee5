"""`folio`: run, check and seed the shop on this machine."""

import asyncio
import signal
import time
from pathlib import Path
from typing import Annotated

import typer

from folio_cli import dev_identity
from folio_cli import observe as observe_mod
from folio_cli.launcher import ServiceFailed, Stack
from folio_cli.services import SERVICES, probe

app = typer.Typer(help="Folio, the cloud-native bookstore: run it locally.", no_args_is_help=True)
identity_app = typer.Typer(
    help="Identity as code: the Keycloak realm and its LDAP federation.", no_args_is_help=True
)
app.add_typer(identity_app, name="identity")
flags_app = typer.Typer(
    help="Failure-drill flags in the embedded config center; services apply them live.", no_args_is_help=True
)
app.add_typer(flags_app, name="flags")

DataDir = Annotated[Path, typer.Option(help="where embedded databases live")]
Ports = Annotated[list[str] | None, typer.Option("--port", help="override a port: NAME=PORT (repeatable)")]
Replicas = Annotated[
    list[str] | None,
    typer.Option("--replicas", help="run N instances of a gRPC service: NAME=N (repeatable)"),
]
ConfigDir = Annotated[
    Path, typer.Option(help="the embedded config center's directory (shared.yaml, <service>.yaml)")
]
DEFAULT_CONFIG_DIR = Path(".folio/config")


def _replicas(items: list[str] | None) -> dict[str, int]:
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


def _ports(overrides: list[str] | None) -> dict[str, int]:
    ports = {s.name: s.default_port for s in SERVICES}
    for item in overrides or []:
        name, sep, port = item.partition("=")
        if not sep or name not in ports or not port.isdigit():
            raise typer.BadParameter(f"{item!r}: expected NAME=PORT with NAME one of {', '.join(ports)}")
        ports[name] = int(port)
    return ports


@app.command()
def up(
    data_dir: DataDir = Path(".folio/data"),
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
        ports=_ports(port),
        pretty=not raw_logs,
        replicas=_replicas(replicas),
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
    typer.secho(f"\nFolio is up ({took:.1f} s). Open:", fg="green", bold=True)
    for name in stack.instance_of:
        typer.echo(f"  {name:<11} {stack.url(name)}")
    typer.echo(f"  {'api docs':<11} {stack.url('storefront')}docs")
    typer.echo(f"Failure drills: `folio flags list` (config center: {config_dir}/shared.yaml)")
    if observe:
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
    try:
        exited = stack.watch()
        typer.secho(f"{exited} stopped unexpectedly; stopping the rest", fg="red", err=True)
        raise typer.Exit(1)
    except KeyboardInterrupt:
        typer.echo("\nstopping…")
    finally:
        observer.stop()
        stack.down()


@app.command()
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


@app.command()
def status(port: Ports = None) -> None:
    """Show which local services are up and healthy."""
    ports = _ports(port)
    healthy = True
    for spec in SERVICES:
        ok = probe(spec, ports[spec.name])
        healthy &= ok
        typer.echo(
            f"{spec.name:<11} 127.0.0.1:{ports[spec.name]:<6} "
            + typer.style("healthy" if ok else "down", fg="green" if ok else "red")
        )
    if not healthy:
        raise typer.Exit(1)


@app.command()
def seed(
    data_dir: DataDir = Path(".folio/data"),
    database_url: Annotated[
        str | None, typer.Option(help="catalog database (default: SQLite in data-dir)")
    ] = None,
    synthetic: Annotated[int, typer.Option(min=0, max=1_000_000, help="also add N generated books")] = 0,
) -> None:
    """Load the bundled catalog (and optional synthetic books) into the catalog database."""
    from folio_catalog.repository import SqlCatalogRepository
    from folio_catalog.seed import load_seed_catalog, synthetic_catalog
    from folio_catalog.settings import Settings
    from folio_catalog.tables import MIGRATIONS
    from folio_platform.database import Database

    url = Settings(data_dir=data_dir, database_url=database_url).resolved_database_url()

    async def run() -> tuple[int, int]:
        with Database.open(url, MIGRATIONS) as database:
            repository = SqlCatalogRepository(database)
            catalog = load_seed_catalog()
            added = await repository.add_missing(
                genres=catalog.genres, authors=catalog.authors, books=catalog.books
            )
            generated = 0
            if synthetic:
                extra = synthetic_catalog(synthetic, genres=catalog.genres)
                generated = await repository.add_missing(genres=[], authors=extra.authors, books=extra.books)
            return added, generated

    started = time.monotonic()
    added, generated = asyncio.run(run())
    typer.echo(
        f"seed: {added} catalog books and {generated} synthetic books added "
        f"in {time.monotonic() - started:.1f} s ({url})"
    )


@app.command()
def reconcile(port: Ports = None, data_dir: DataDir = Path(".folio/data")) -> None:
    """Check that orders and payments agree: every kept charge has one confirmed order, and back."""
    import grpc

    from folio.orders.v1 import orders_pb2, orders_pb2_grpc
    from folio.payment.v1 import payment_pb2, payment_pb2_grpc
    from folio_orders.reconcile import reconcile as compare
    from folio_platform.auth import bearer
    from folio_platform.errors import Unauthenticated

    ports = _ports(port)
    try:
        # Reconciliation is orders' own check: it reads both ledgers as orders' service account.
        as_orders = bearer(
            dev_identity.service_token(data_dir, f"http://127.0.0.1:{ports['dev-oidc']}", "folio-orders")
        )
    except Unauthenticated as error:
        typer.secho(f"reconcile: {error.message} (is `folio up` running?)", fg="red", err=True)
        raise typer.Exit(2) from None

    def everything(fetch, field: str) -> list:  # type: ignore[no-untyped-def, type-arg]
        items, token = [], ""
        while True:
            page = fetch(token)
            items.extend(getattr(page, field))
            token = page.next_page_token
            if not token:
                return items

    try:
        with (
            grpc.insecure_channel(f"127.0.0.1:{ports['orders']}") as orders_channel,
            grpc.insecure_channel(f"127.0.0.1:{ports['payment']}") as payment_channel,
        ):
            orders = orders_pb2_grpc.OrdersServiceStub(orders_channel)
            payments = payment_pb2_grpc.PaymentServiceStub(payment_channel)
            all_orders = everything(
                lambda t: orders.ListAllOrders(
                    orders_pb2.ListAllOrdersRequest(page_size=100, page_token=t),
                    timeout=10,
                    metadata=as_orders,
                ),
                "orders",
            )
            all_payments = everything(
                lambda t: payments.ListPayments(
                    payment_pb2.ListPaymentsRequest(page_size=100, page_token=t),
                    timeout=10,
                    metadata=as_orders,
                ),
                "payments",
            )
    except grpc.RpcError as error:
        typer.secho(f"reconcile: cannot read orders and payments: {error.details()}", fg="red", err=True)
        raise typer.Exit(2) from None
    report = compare(all_orders, all_payments)
    typer.secho(report.summary(), fg="green" if report.ok else "red")
    if not report.ok:
        raise typer.Exit(1)


@identity_app.command("apply")
def identity_apply(
    keycloak_url: Annotated[
        str | None, typer.Option(help="Keycloak's base URL (else FOLIO_IDENTITY_KEYCLOAK_URL)")
    ] = None,
    shop_url: Annotated[
        str | None, typer.Option(help="the shop's external URL, for redirects (else FOLIO_IDENTITY_SHOP_URL)")
    ] = None,
    ldap_url: Annotated[
        str | None, typer.Option(help="OpenLDAP's URL (else FOLIO_IDENTITY_LDAP_URL)")
    ] = None,
    realm_file: Annotated[
        Path | None, typer.Option(help="the realm JSON (default: identity/keycloak/folio-realm.json)")
    ] = None,
    update_secrets: Annotated[
        bool, typer.Option(help="also write the LDAP bind credential, which Keycloak never shows back")
    ] = False,
) -> None:
    """Create or update the Folio realm in a running Keycloak; a second run changes nothing."""
    import json

    from keycloak.exceptions import KeycloakAuthenticationError, KeycloakConnectionError, KeycloakError
    from pydantic import ValidationError

    from folio_cli.identity import IdentitySettings, RealmApplier, connect, resolve_realm, settings_problems
    from folio_identity.realm import realm_template

    def fail(message: str, code: int) -> typer.Exit:
        typer.secho(f"folio identity apply: {message}", fg="red", err=True)
        return typer.Exit(code)

    overrides = {"keycloak_url": keycloak_url, "shop_url": shop_url, "ldap_url": ldap_url}
    try:
        settings = IdentitySettings(**{k: v for k, v in overrides.items() if v is not None})  # type: ignore[arg-type]
    except ValidationError as error:
        raise fail(settings_problems(error), 2) from None
    try:
        template = json.loads(realm_file.read_text()) if realm_file else realm_template()
        realm = resolve_realm(template, settings)
    except (OSError, ValueError) as error:
        raise fail(f"cannot use the realm file: {error}", 2) from None
    admin = connect(settings, realm["realm"])
    try:
        changes = RealmApplier(admin, realm, update_secrets=update_secrets).apply()
    except KeycloakAuthenticationError as error:
        raise fail(
            f"Keycloak at {settings.keycloak_url} refused the admin sign-in of "
            f"{settings.keycloak_admin_user!r} in realm {settings.keycloak_admin_realm!r} "
            f"(FOLIO_IDENTITY_KEYCLOAK_ADMIN_USER / _PASSWORD): {error.error_message!r}",
            1,
        ) from None
    except KeycloakConnectionError as error:
        raise fail(f"cannot reach Keycloak at {settings.keycloak_url}: {error}", 1) from None
    except KeycloakError as error:
        raise fail(f"Keycloak answered {error.response_code}: {error.error_message!r}", 1) from None
    for line in changes.lines:
        typer.echo(f"{line}")
    typer.secho(
        f"realm {realm['realm']}: "
        + (f"{len(changes.lines)} change(s) applied" if changes.lines else "unchanged"),
        fg="green",
    )


def _assistant_address(port: list[str] | None, address: str | None) -> str:
    return address or f"127.0.0.1:{_ports(port)['assistant']}"


Address = Annotated[str | None, typer.Option(help="the assistant's host:port (default: the local one)")]


@app.command()
def ingest(
    port: Ports = None,
    address: Address = None,
    data_dir: DataDir = Path(".folio/data"),
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

    from folio_platform.auth import bearer
    from folio_platform.errors import Unauthenticated

    if token is None:
        try:
            token = dev_identity.service_token(
                data_dir, f"http://127.0.0.1:{_ports(port)['dev-oidc']}", "folio-assistant"
            )
        except Unauthenticated as error:
            typer.secho(
                f"ingest: {error.message} (is `folio up` running? else pass --token)", fg="red", err=True
            )
            raise typer.Exit(2) from None
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from folio.assistant.v1 import assistant_pb2, assistant_pb2_grpc

    phases = {
        assistant_pb2.INGEST_PHASE_READING_CATALOG: "reading the catalog",
        assistant_pb2.INGEST_PHASE_INDEXING: "indexing",
        assistant_pb2.INGEST_PHASE_ORDERS: "reading orders",
        assistant_pb2.INGEST_PHASE_DONE: "done",
        assistant_pb2.INGEST_PHASE_FAILED: "failed",
    }
    target = _assistant_address(port, address)
    last = assistant_pb2.IngestProgress()
    started = time.monotonic()
    try:
        with (
            grpc.insecure_channel(target) as channel,
            Progress(
                TextColumn("{task.description:<20}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()
            ) as bar,
        ):
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


@app.command(name="eval")
def evaluate(
    port: Ports = None,
    address: Address = None,
    fail_under: Annotated[float, typer.Option(help="exit 1 when recall@5 is below this")] = 0.0,
) -> None:
    """Run the evaluation set through the running assistant: recall@5, MRR, citation precision."""
    import grpc

    from folio.assistant.v1 import assistant_pb2, assistant_pb2_grpc

    try:
        from folio_assistant.evaluation import Report, format_report, load_questions
        from folio_assistant.evaluation import evaluate as run_evaluation
    except ImportError:
        typer.secho(
            "folio eval needs the assistant's evaluation set: install folio-cli[eval]", fg="red", err=True
        )
        raise typer.Exit(2) from None

    target = _assistant_address(port, address)

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


@flags_app.command("list")
def flags_list(config_dir: ConfigDir = DEFAULT_CONFIG_DIR) -> None:
    """Every failure-drill flag: its value now, its default and what it does."""
    from folio_cli import flags

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


@flags_app.command("set")
def flags_set(
    name: Annotated[str, typer.Argument(help="section.flag, e.g. payment.failure_rate")],
    value: Annotated[str, typer.Argument(help="e.g. 0.5, 300, true")],
    config_dir: ConfigDir = DEFAULT_CONFIG_DIR,
) -> None:
    """Turn a drill on (or change it); running services apply it within about a second."""
    from folio_cli import flags

    try:
        stored = flags.set_flag(config_dir, name, value)
    except flags.FlagError as error:
        typer.secho(f"folio flags set: {error}", fg="red", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"{name} = {stored}")


@flags_app.command("clear")
def flags_clear(
    name: Annotated[str | None, typer.Argument(help="one flag; without it, every flag")] = None,
    config_dir: ConfigDir = DEFAULT_CONFIG_DIR,
) -> None:
    """Back to defaults: one flag, or all of them."""
    from folio_cli import flags

    try:
        cleared = flags.clear(config_dir, name)
    except flags.FlagError as error:
        typer.secho(f"folio flags clear: {error}", fg="red", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"cleared: {', '.join(cleared)}" if cleared else "nothing to clear")
