"""folio.cart.v1.CartService: request validation and proto mapping over a CartStore."""

import re

import grpc

from folio.cart.v1 import cart_pb2, cart_pb2_grpc
from folio_cart.store import CartStore, Line
from folio_platform.auth import checked_shopper, rules_for, signed_in
from folio_platform.errors import InvalidArgument

BOOK_ID = re.compile(r"[a-z0-9][a-z0-9-]{0,159}")

Context = grpc.aio.ServicerContext[object, object]

# A person reaches only their own cart; the storefront's service account only guest carts;
# orders any cart it checks out (it reads and empties them).
_CART_USERS = signed_in(services=("folio-storefront", "folio-orders"))
ACCESS = rules_for(
    cart_pb2.DESCRIPTOR.services_by_name["CartService"],
    {m: _CART_USERS for m in ("GetCart", "AddItem", "UpdateQuantity", "RemoveItem", "EmptyCart")},
)


def _shopper(value: str) -> str:
    return checked_shopper(value, trusted_services=("folio-orders",))


def _book(value: str) -> str:
    if not BOOK_ID.fullmatch(value):
        raise InvalidArgument("book_id", "must be a catalog book id such as 'moby-dick'")
    return value


def _quantity(value: int) -> int:
    if value < 1:
        raise InvalidArgument("quantity", "must be at least 1 (use RemoveItem to drop a book)")
    return value


def cart_message(shopper_id: str, lines: list[Line]) -> cart_pb2.Cart:
    return cart_pb2.Cart(
        shopper_id=shopper_id,
        items=[cart_pb2.CartItem(book_id=line.book_id, quantity=line.quantity) for line in lines],
    )


class CartServicer(cart_pb2_grpc.CartServiceServicer):
    def __init__(self, store: CartStore) -> None:
        self.store = store

    async def GetCart(self, request: cart_pb2.GetCartRequest, context: Context) -> cart_pb2.Cart:
        shopper = _shopper(request.shopper_id)
        return cart_message(shopper, await self.store.get(shopper))

    async def AddItem(self, request: cart_pb2.AddItemRequest, context: Context) -> cart_pb2.Cart:
        shopper, book, quantity = (
            _shopper(request.shopper_id),
            _book(request.book_id),
            _quantity(request.quantity),
        )
        return cart_message(shopper, await self.store.add(shopper, book, quantity))

    async def UpdateQuantity(
        self, request: cart_pb2.UpdateQuantityRequest, context: Context
    ) -> cart_pb2.Cart:
        shopper, book, quantity = (
            _shopper(request.shopper_id),
            _book(request.book_id),
            _quantity(request.quantity),
        )
        return cart_message(shopper, await self.store.set_quantity(shopper, book, quantity))

    async def RemoveItem(self, request: cart_pb2.RemoveItemRequest, context: Context) -> cart_pb2.Cart:
        shopper, book = _shopper(request.shopper_id), _book(request.book_id)
        return cart_message(shopper, await self.store.remove(shopper, book))

    async def EmptyCart(self, request: cart_pb2.EmptyCartRequest, context: Context) -> cart_pb2.Cart:
        shopper = _shopper(request.shopper_id)
        return cart_message(shopper, await self.store.clear(shopper))
