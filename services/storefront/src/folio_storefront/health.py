"""Liveness and readiness for probes and the launcher. Public, but they reveal only up/down."""

import asyncio

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from folio_storefront.deps import CartDep, CatalogDep, OrdersDep
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
async def readyz(catalog: CatalogDep, cart: CartDep, orders: OrdersDep) -> JSONResponse:
    """Ready when the catalog serves: browsing works. Cart and orders are reported, not required,
    so an outage of checkout does not take browsing out of the load balancer."""
    catalog_ok, cart_ok, orders_ok = await asyncio.gather(
        catalog.is_serving(), cart.is_serving(), orders.is_serving()
    )
    checks = {
        name: "serving" if ok else "unavailable"
        for name, ok in (("catalog", catalog_ok), ("cart", cart_ok), ("orders", orders_ok))
    }
    status = "not ready" if not catalog_ok else "ready" if cart_ok and orders_ok else "degraded"
    return JSONResponse(
        Health(status=status, checks=checks).model_dump(), status_code=200 if catalog_ok else 503
    )
