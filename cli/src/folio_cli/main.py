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

DataDir = Annotated[Path, typer.Option(help="where embedded databases live")]
Ports = Annotated[list[str] | None, typer.Option("--port", help="override a port: NAME=PORT (repeatable)")]


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
    stack = Stack(data_dir=data_dir, ports=_ports(port), pretty=not raw_logs, metrics_ports=metrics_ports)
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
    for spec in SERVICES:
        typer.echo(f"  {spec.name:<11} {stack.url(spec.name)}")
    typer.echo(f"  {'api docs':<11} {stack.url('storefront')}docs")
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
    from folio_catalog import db
    from folio_catalog.repository import SqlCatalogRepository
    from folio_catalog.seed import load_seed_catalog, synthetic_catalog
    from folio_catalog.settings import Settings

    url = Settings(data_dir=data_dir, database_url=database_url).resolved_database_url()

    async def run() -> tuple[int, int]:
        db.migrate(url)
        repository = SqlCatalogRepository(db.create_engine_for(url))
        try:
            catalog = load_seed_catalog()
            added = await repository.add_missing(
                genres=catalog.genres, authors=catalog.authors, books=catalog.books
            )
            generated = 0
            if synthetic:
                extra = synthetic_catalog(synthetic, genres=catalog.genres)
                generated = await repository.add_missing(genres=[], authors=extra.authors, books=extra.books)
            return added, generated
        finally:
            repository.close()

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
