"""Liveness and readiness for probes and the launcher. Public, but they reveal only up/down."""

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from folio_storefront.deps import CatalogDep
from folio_storefront.schemas import Health

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="The process is alive")
async def healthz() -> Health:
    return Health(status="ok")


@router.get(
    "/readyz",
    summary="Ready to serve: every backend answers its health check",
    response_model=Health,
    responses={503: {"model": Health, "description": "a backend is not serving; `checks` names it"}},
)
async def readyz(catalog: CatalogDep) -> JSONResponse:
    serving = await catalog.is_serving()
    body = Health(
        status="ready" if serving else "not ready",
        checks={"catalog": "serving" if serving else "unavailable"},
    )
    return JSONResponse(body.model_dump(), status_code=200 if serving else 503)
