"""Wiring: settings -> database -> repository -> gRPC server. Nothing happens at import."""

import asyncio

from folio.catalog.v1 import catalog_pb2, catalog_pb2_grpc
from folio_catalog import db
from folio_catalog.drills import LatencyDrill
from folio_catalog.repository import SqlCatalogRepository
from folio_catalog.seed import load_seed
from folio_catalog.servicer import ACCESS, CatalogServicer
from folio_catalog.settings import Settings
from folio_platform.auth import AuthSettings
from folio_platform.center import CenterSettings, open_center
from folio_platform.grpc_server import run_service, serve_grpc
from folio_platform.settings import load_settings
from folio_platform.telemetry import configure_telemetry

SERVICE_NAME = catalog_pb2.DESCRIPTOR.services_by_name["CatalogService"].full_name


async def serve(settings: Settings, auth: AuthSettings) -> None:
    """Run the catalog until SIGTERM/SIGINT."""
    telemetry = configure_telemetry("catalog", metrics_port=settings.metrics_port, metrics_host=settings.host)
    url = settings.resolved_database_url()
    await asyncio.to_thread(db.migrate, url)
    repository = SqlCatalogRepository(db.create_engine_for(url))
    try:
        if settings.seed_on_start:
            await load_seed(repository)
        servicer = CatalogServicer(repository)
        async with open_center("catalog", load_settings(CenterSettings)) as center:
            await serve_grpc(
                settings,
                register=lambda s: catalog_pb2_grpc.add_CatalogServiceServicer_to_server(servicer, s),
                service_names=[SERVICE_NAME],
                telemetry=telemetry,
                auth_settings=auth,
                access=ACCESS,
                center=center,
                interceptors=[LatencyDrill(lambda: center.config.current.flags.catalog.latency_ms)],
            )
    finally:
        repository.close()
        telemetry.shutdown()


def main() -> None:
    run_service("catalog", Settings, serve)
