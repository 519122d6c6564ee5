"""Wiring: settings -> ledger + simulated card processor -> gRPC server. Nothing happens at import."""

from folio.payment.v1 import payment_pb2, payment_pb2_grpc
from folio_payment.drills import DrillProcessor
from folio_payment.ledger import SqlLedger
from folio_payment.processor import SimulatedProcessor
from folio_payment.servicer import ACCESS, PaymentServicer
from folio_payment.settings import Settings
from folio_payment.tables import MIGRATIONS
from folio_platform.auth import AuthSettings
from folio_platform.center import CenterSettings, open_center
from folio_platform.database import open_database
from folio_platform.grpc_server import run_service, serve_grpc
from folio_platform.settings import load_settings
from folio_platform.telemetry import configure_telemetry

SERVICE_NAME = payment_pb2.DESCRIPTOR.services_by_name["PaymentService"].full_name


async def serve(settings: Settings, auth: AuthSettings) -> None:
    """Run the payment service until SIGTERM/SIGINT."""
    telemetry = configure_telemetry("payment", metrics_port=settings.metrics_port, metrics_host=settings.host)
    try:
        async with (
            open_database(settings.resolved_database_url(), MIGRATIONS, name="payment-db") as db,
            open_center("payment", load_settings(CenterSettings)) as center,
        ):
            processor = DrillProcessor(SimulatedProcessor(), lambda: center.config.current.flags.payment)
            servicer = PaymentServicer(
                SqlLedger(db), processor, processor_timeout=settings.processor_timeout_seconds
            )
            await serve_grpc(
                settings,
                register=lambda s: payment_pb2_grpc.add_PaymentServiceServicer_to_server(servicer, s),
                service_names=[SERVICE_NAME],
                telemetry=telemetry,
                auth_settings=auth,
                access=ACCESS,
                center=center,
            )
    finally:
        telemetry.shutdown()


def main() -> None:
    run_service("payment", Settings, serve)
