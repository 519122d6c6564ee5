"""Wiring: settings -> database -> repository -> gRPC server. Nothing happens at import."""

import logging

from folio.catalog.v1 import catalog_pb2, catalog_pb2_grpc
from folio_catalog.drills import LatencyDrill
from folio_catalog.repository import CatalogRepository, SqlCatalogRepository
from folio_catalog.seed import load_seed_catalog
from folio_catalog.servicer import ACCESS, CatalogServicer
from folio_catalog.settings import Settings
from folio_catalog.tables import MIGRATIONS
from folio_platform.auth import AuthSettings
from folio_platform.center import CenterSettings, open_center
from folio_platform.database import open_database
from folio_platform.grpc_server import run_service, serve_grpc
from folio_platform.settings import load_settings
from folio_platform.telemetry import configure_telemetry

log = logging.getLogger(__name__)
SERVICE_NAME = catalog_pb2.DESCRIPTOR.services_by_name["CatalogService"].full_name


async def load_seed(repository: CatalogRepository) -> int:
    """Add the bundled seed books that are missing; returns how many were added."""
    seed = load_seed_catalog()
    added = await repository.add_missing(genres=seed.genres, authors=seed.authors, books=seed.books)
    log.info("seed catalog loaded", extra={"added_books": added, "seed_books": len(seed.books)})
    return added


async def serve(settings: Settings, auth: AuthSettings) -> None:
    """Run the catalog until SIGTERM/SIGINT."""
    telemetry = configure_telemetry("catalog", metrics_port=settings.metrics_port, metrics_host=settings.host)
    try:
        async with (
            open_database(settings.resolved_database_url(), MIGRATIONS, name="catalog-db") as db,
            open_center("catalog", load_settings(CenterSettings)) as center,
        ):
            repository = SqlCatalogRepository(db)
            if settings.seed_on_start:
                await load_seed(repository)
            servicer = CatalogServicer(repository)
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
        telemetry.shutdown()


def main() -> None:
    run_service("catalog", Settings, serve)
