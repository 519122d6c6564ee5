"""`folio reconcile`: do orders and payments agree? Orders' own check, read as orders' service account."""

import typer

from folio_cli import dev_identity
from folio_cli.commands.options import DEFAULT_DATA_DIR, DataDir, Ports, parse_ports


def reconcile(port: Ports = None, data_dir: DataDir = DEFAULT_DATA_DIR) -> None:
    """Check that orders and payments agree: every kept charge has one confirmed order, and back."""
    import grpc

    from folio.orders.v1 import orders_pb2, orders_pb2_grpc
    from folio.payment.v1 import payment_pb2, payment_pb2_grpc
    from folio_orders.reconcile import reconcile as compare
    from folio_platform.auth import bearer
    from folio_platform.errors import Unauthenticated

    ports = parse_ports(port)
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
