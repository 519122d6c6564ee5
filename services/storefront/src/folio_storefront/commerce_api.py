"""REST API v1 for the cart and orders.

Who may call: any shopper, for their own cart and orders only. The shopper is the one in
the signed session cookie (minted on first use); no shopper id ever appears in a URL or
body, so one shopper cannot name another's cart or orders. State-changing requests from
another site's page are refused (403).
"""

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Path, Query, status

from folio_storefront.commerce import (
    ID,
    AddItem,
    CartView,
    CheckoutIn,
    OrderPage,
    OrderView,
    SetQuantity,
    cart_view,
    order_view,
    place_order_request,
)
from folio_storefront.deps import CartDep, CatalogDep, OrdersDep, ShopperDep
from folio_storefront.errors import COMMERCE_RESPONSES, Conflict
from folio_storefront.shopper import same_origin

router = APIRouter(prefix="/api/v1", responses=COMMERCE_RESPONSES, dependencies=[Depends(same_origin)])
BookId = Annotated[str, Path(pattern=ID, max_length=160)]
IdempotencyKey = Annotated[
    str,
    Header(
        alias="Idempotency-Key",
        pattern=r"^[A-Za-z0-9_-]{8,100}$",
        description="one per checkout attempt (e.g. a UUID); a retry with the same key returns the same order",
    ),
]


@router.get("/cart", summary="The shopper's cart", tags=["cart"])
async def get_cart(shopper: ShopperDep, cart: CartDep, catalog: CatalogDep) -> CartView:
    return await cart_view(await cart.get(shopper), catalog)


@router.post("/cart/items", summary="Add copies of a book to the cart", tags=["cart"])
async def add_item(item: AddItem, shopper: ShopperDep, cart: CartDep, catalog: CatalogDep) -> CartView:
    book = await catalog.get_book(item.book_id)  # 404 for an unknown book
    if book.stock <= 0:
        raise Conflict(f"'{book.title}' is out of stock")
    added = await cart.add(shopper, item.book_id, item.quantity)
    return await cart_view(added, catalog, known={item.book_id: book})


@router.put("/cart/items/{book_id}", summary="Set the quantity of a book in the cart", tags=["cart"])
async def set_quantity(
    book_id: BookId, change: SetQuantity, shopper: ShopperDep, cart: CartDep, catalog: CatalogDep
) -> CartView:
    return await cart_view(await cart.update(shopper, book_id, change.quantity), catalog)


@router.delete("/cart/items/{book_id}", summary="Remove a book from the cart", tags=["cart"])
async def remove_item(book_id: BookId, shopper: ShopperDep, cart: CartDep, catalog: CatalogDep) -> CartView:
    return await cart_view(await cart.remove(shopper, book_id), catalog)


@router.delete("/cart", summary="Empty the cart", tags=["cart"])
async def empty_cart(shopper: ShopperDep, cart: CartDep, catalog: CatalogDep) -> CartView:
    return await cart_view(await cart.empty(shopper), catalog)


@router.post("/orders", summary="Check out the cart", tags=["orders"], status_code=status.HTTP_201_CREATED)
async def place_order(
    checkout: CheckoutIn, idempotency_key: IdempotencyKey, shopper: ShopperDep, orders: OrdersDep
) -> OrderView:
    return order_view(await orders.place(shopper, place_order_request(shopper, idempotency_key, checkout)))


@router.get("/orders", summary="The shopper's orders, newest first", tags=["orders"])
async def list_orders(
    shopper: ShopperDep,
    orders: OrdersDep,
    page_size: Annotated[int, Query(ge=1, le=100)] = 20,
    page_token: Annotated[str, Query(max_length=200)] = "",
) -> OrderPage:
    page = await orders.list(shopper, page_size=page_size, page_token=page_token)
    return OrderPage(
        items=[order_view(o) for o in page.orders],
        total=page.total_size,
        next_page_token=page.next_page_token or None,
    )


@router.get("/orders/{order_id}", summary="One of the shopper's orders", tags=["orders"])
async def get_order(
    order_id: Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{1,100}$")], shopper: ShopperDep, orders: OrdersDep
) -> OrderView:
    return order_view(await orders.get(shopper, order_id))
