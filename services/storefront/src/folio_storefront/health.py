"""Liveness and readiness for probes and the launcher. Public, but they reveal only up/down."""

import asyncio

from fastapi import APIRouter, Request
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
async def readyz(request: Request, catalog: CatalogDep, cart: CartDep, orders: OrdersDep) -> JSONResponse:
    """Ready when the catalog serves: browsing works. Cart, orders and the assistant are reported,
    not required, so an outage of checkout or of the assistant does not take browsing out of the
    load balancer."""
    assistant = request.app.state.assistant
    catalog_ok, cart_ok, orders_ok, assistant_ok = await asyncio.gather(
        catalog.is_serving(),
        cart.is_serving(),
        orders.is_serving(),
        assistant.is_serving() if assistant is not None else asyncio.sleep(0, result=False),
    )
    checks = {
        name: "serving" if ok else "unavailable"
        for name, ok in (
            ("catalog", catalog_ok),
            ("cart", cart_ok),
            ("orders", orders_ok),
            ("assistant", assistant_ok),
        )
    }
    if assistant is None:
        checks["assistant"] = "not configured"
    optional_ok = cart_ok and orders_ok and (assistant_ok or assistant is None)
    status = "not ready" if not catalog_ok else "ready" if optional_ok else "degraded"
    return JSONResponse(
        Health(status=status, checks=checks).model_dump(), status_code=200 if catalog_ok else 503
    )
