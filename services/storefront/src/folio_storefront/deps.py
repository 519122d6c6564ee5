"""Request-scoped access to what the lifespan built (FastAPI dependencies).

They are `async def` on purpose: FastAPI runs a plain `def` dependency on a worker thread,
a hop that cost more than the rest of a catalog read.
"""

from typing import Annotated

from fastapi import Depends, Request
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


async def _templates(request: Request) -> Jinja2Templates:
    templates: Jinja2Templates = request.app.state.templates
    return templates


CatalogDep = Annotated[CatalogClient, Depends(_catalog)]
TemplatesDep = Annotated[Jinja2Templates, Depends(_templates)]
CartDep = Annotated[CartClient, Depends(_cart)]
OrdersDep = Annotated[OrdersClient, Depends(_orders)]
ShopperDep = Annotated[Shopper, Depends(current_shopper)]
