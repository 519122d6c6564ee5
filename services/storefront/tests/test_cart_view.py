"""The cart page's books come from the catalog, except one the request has just read from it."""

from folio.cart.v1 import cart_pb2
from folio.catalog.v1 import catalog_pb2
from folio_platform.grpc_client import create_channel
from folio_storefront.catalog_client import CatalogClient
from folio_storefront.commerce import cart_view

from .conftest import CatalogServer, KnownCatalog


async def test_a_book_just_read_is_used_as_read_and_the_others_are_asked_for(
    catalog_server: CatalogServer, known: KnownCatalog
) -> None:
    first, second = known.books[0], known.books[1]
    channel = create_channel([catalog_server.address])
    catalog = CatalogClient(channel)
    try:
        just_read = catalog_pb2.Book()
        just_read.CopyFrom(await catalog.get_book(first.id))
        # A price only this request's copy has: the view shows it, so the book was not read again.
        just_read.price.minor_units = 7
        cart = cart_pb2.Cart(
            shopper_id="anon-1",
            items=[
                cart_pb2.CartItem(book_id=first.id, quantity=2),
                cart_pb2.CartItem(book_id=second.id, quantity=1),
            ],
        )
        view = await cart_view(cart, catalog, known={first.id: just_read})
    finally:
        await channel.close(None)
    lines = {line.book_id: line for line in view.items}
    assert lines[first.id].line_total is not None
    assert lines[first.id].line_total.minor_units == 14
    assert lines[second.id].book is not None
    assert lines[second.id].book.title == second.title
    assert view.item_count == 3


async def test_a_cart_of_many_books_keeps_its_order_and_a_book_the_catalog_no_longer_has(
    catalog_server: CatalogServer, known: KnownCatalog
) -> None:
    """The books are read in one call per 100 (a cart may hold more when its limit is raised); a book
    since removed from the catalog stays in the cart, without title or price, out of the total."""
    first, second = known.books[0], known.books[1]
    ids = [second.id, *(f"gone-{n}" for n in range(120)), first.id]
    cart = cart_pb2.Cart(shopper_id="anon-1", items=[cart_pb2.CartItem(book_id=i, quantity=1) for i in ids])
    channel = create_channel([catalog_server.address])
    try:
        view = await cart_view(cart, CatalogClient(channel))
    finally:
        await channel.close(None)
    assert [line.book_id for line in view.items] == ids
    assert [line.book.title for line in view.items if line.book is not None] == [second.title, first.title]
    assert all(line.line_total is None for line in view.items[1:-1])
    assert view.total.minor_units == first.price_minor + second.price_minor
    assert view.item_count == len(ids)
