"""The catalog as the platform runs it: its database, seeded on start, behind the CatalogService."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from folio.catalog.v1 import catalog_pb2, catalog_pb2_grpc
from folio_catalog.drills import LatencyDrill
from folio_catalog.repository import SqlCatalogRepository
from folio_catalog.seed import load_seed
from folio_catalog.servicer import ACCESS, MULTILINE, CatalogServicer
from folio_catalog.settings import Settings
from folio_catalog.tables import MIGRATIONS
from folio_platform.database import open_database
from folio_platform.service import Runtime, Servicer, ServiceSpec, Serving, run_service

SERVICE_NAME = catalog_pb2.DESCRIPTOR.services_by_name["CatalogService"].full_name


@asynccontextmanager
async def resources(runtime: Runtime[Settings]) -> AsyncIterator[Serving]:
    """The catalog database (migrated, and seeded when asked) and the servicer over it."""
    settings, config = runtime.settings, runtime.center.config
    async with open_database(settings.resolved_database_url(), MIGRATIONS, name="catalog-db") as db:
        repository = SqlCatalogRepository(db)
        if settings.seed_on_start:
            await load_seed(repository)
        servicer = CatalogServicer(repository)
        yield Serving(
            servicers=[
                Servicer(
                    SERVICE_NAME, lambda s: catalog_pb2_grpc.add_CatalogServiceServicer_to_server(servicer, s)
                )
            ],
            interceptors=[LatencyDrill(lambda: config.current.flags.catalog.latency_ms)],
        )


def spec() -> ServiceSpec[Settings]:
    return ServiceSpec(
        name="catalog", settings=Settings, access=ACCESS, resources=resources, multiline=MULTILINE
    )


def main() -> None:
    run_service(spec())
