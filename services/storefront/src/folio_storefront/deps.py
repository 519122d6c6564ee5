"""Request-scoped access to what the lifespan built (FastAPI dependencies).

They are `async def` on purpose: FastAPI runs a plain `def` dependency on a worker thread,
a hop that cost more than the rest of a catalog read.
"""

from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.templating import Jinja2Templates

from folio_storefront.cart_client import CartClient
from folio_storefront.catalog_client import CatalogClient
from folio_storefront.orders_client import OrdersClient
from folio_storefront.shopper import Shopper, current_shopper


async def _catalog(request: Request) -> CatalogClient:
    catalog: CatalogClient = request.app.state.catalog
    return catalog


async def _cart(request: Request) -> CartClient:
    cart: CartClient = request.app.state.cart
    return cart


async def _orders(request: Request) -> OrdersClient:
    orders: OrdersClient = request.app.state.orders
    return orders


# Declared for the API document (so /docs offers Authorize); `current_shopper` reads and verifies it.
BEARER = HTTPBearer(
    scheme_name="bearer",
    bearerFormat="JWT",
    description="An access token from the identity provider (Keycloak); without one, the browser session acts "
    "(a signed-in person or a guest).",
    auto_error=False,
)


async def _shopper(
    request: Request, _bearer: Annotated[HTTPAuthorizationCredentials | None, Security(BEARER)]
) -> Shopper:
    return await current_shopper(request)


async def _templates(request: Request) -> Jinja2Templates:
    templates: Jinja2Templates = request.app.state.templates
    return templates


CatalogDep = Annotated[CatalogClient, Depends(_catalog)]
TemplatesDep = Annotated[Jinja2Templates, Depends(_templates)]
CartDep = Annotated[CartClient, Depends(_cart)]
OrdersDep = Annotated[OrdersClient, Depends(_orders)]
ShopperDep = Annotated[Shopper, Depends(_shopper)]
