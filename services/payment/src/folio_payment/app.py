"""The payment service as the platform runs it: its ledger and the simulated card processor."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from folio.payment.v1 import payment_pb2, payment_pb2_grpc
from folio_payment.drills import DrillProcessor
from folio_payment.ledger import SqlLedger
from folio_payment.processor import SimulatedProcessor
from folio_payment.servicer import ACCESS, PaymentServicer
from folio_payment.settings import Settings
from folio_payment.tables import MIGRATIONS
from folio_platform.database import open_database
from folio_platform.service import Runtime, Servicer, ServiceSpec, Serving, run_service

SERVICE_NAME = payment_pb2.DESCRIPTOR.services_by_name["PaymentService"].full_name


@asynccontextmanager
async def resources(runtime: Runtime[Settings]) -> AsyncIterator[Serving]:
    """The ledger database and the servicer over it and the (drillable) card processor."""
    settings, config = runtime.settings, runtime.center.config
    async with open_database(
        settings.resolved_database_url(), MIGRATIONS, name="payment-db", durable=True
    ) as db:
        processor = DrillProcessor(SimulatedProcessor(), lambda: config.current.flags.payment)
        servicer = PaymentServicer(
            SqlLedger(db),
            processor,
            processor_timeout=settings.processor_timeout_seconds,
            lookup_timeout=settings.processor_lookup_timeout_seconds,
        )
        yield Serving(
            servicers=[
                Servicer(
                    SERVICE_NAME, lambda s: payment_pb2_grpc.add_PaymentServiceServicer_to_server(servicer, s)
                )
            ]
        )


def spec() -> ServiceSpec[Settings]:
    return ServiceSpec(name="payment", settings=Settings, access=ACCESS, resources=resources)


def main() -> None:
    run_service(spec())
