"""The catalog admin page: add a book, change a book's price, stock or featured flag.

Who may call: signed-in people holding the catalog-admin role (guests are sent to sign in,
others get 403). The catalog checks the role again on the admin's own token.
"""

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from folio.catalog.v1 import catalog_pb2
from folio.common.v1 import money_pb2
from folio_storefront.commerce import ID
from folio_storefront.deps import CatalogDep, ShopperDep, TemplatesDep
from folio_storefront.errors import BadRequest, Forbidden
from folio_storefront.shopper import Shopper, same_origin

ADMIN_ROLE = "catalog-admin"
router = APIRouter(prefix="/admin", include_in_schema=False, dependencies=[Depends(same_origin)])
BookId = Annotated[str, Form(pattern=ID, max_length=160)]


class SignInFirst(Exception):
    """A guest asked for the admin page: send them to sign in, then back."""


async def admin(shopper: ShopperDep) -> Shopper:
    if not shopper.signed_in:
        raise SignInFirst
    if ADMIN_ROLE not in shopper.roles:
        raise Forbidden(f"the catalog admin page needs the {ADMIN_ROLE} role")
    return shopper


AdminDep = Annotated[Shopper, Depends(admin)]


def _page(
    request: Request, templates: TemplatesDep, message: str = "", error: str = "", status: int = 200
) -> Response:
    return templates.TemplateResponse(
        request,
        "admin.html",
        {"message": message, "error": error, "form": request.query_params},
        status_code=status,
    )


@router.get("", response_class=HTMLResponse)
async def admin_page(request: Request, _: AdminDep, templates: TemplatesDep) -> Response:
    return _page(request, templates)


@router.post("/books")
async def create_book(
    request: Request,
    who: AdminDep,
    catalog: CatalogDep,
    templates: TemplatesDep,
    book_id: BookId,
    title: Annotated[str, Form(max_length=300)],
    author_id: Annotated[str, Form(pattern=ID, max_length=160)],
    year: Annotated[int, Form(ge=-3000, le=2100)],
    genre_id: Annotated[str, Form(pattern=ID, max_length=160)],
    price: Annotated[float, Form(ge=0, le=10_000)],
    stock: Annotated[int, Form(ge=0, le=100_000)],
    language: Annotated[str, Form(pattern=r"^[a-z]{2}$")] = "en",
    description: Annotated[str, Form(max_length=5000)] = "",
) -> Response:
    created = await catalog.create_book(
        who.token,
        catalog_pb2.CreateBookRequest(
            id=book_id,
            title=title,
            author_id=author_id,
            year=year,
            language=language,
            genre_ids=[genre_id],
            description=description,
            price=money_pb2.Money(currency_code="USD", minor_units=round(price * 100)),
            stock=stock,
        ),
    )
    return RedirectResponse(f"/books/{created.id}", 303)


@router.post("/books/update")
async def update_book(
    who: AdminDep,
    catalog: CatalogDep,
    book_id: BookId,
    price: Annotated[str, Form(max_length=20)] = "",
    stock: Annotated[str, Form(max_length=10)] = "",
    featured: Annotated[str, Form(pattern=r"^(|yes|no)$")] = "",
) -> Response:
    change = catalog_pb2.UpdateBookRequest(id=book_id)
    try:
        if price.strip():
            change.price_minor_units = round(float(price) * 100)
        if stock.strip():
            change.stock = int(stock)
    except ValueError:
        raise BadRequest(
            "price and stock must be numbers", field="price" if price.strip() else "stock"
        ) from None
    if featured:
        change.featured = featured == "yes"
    updated = await catalog.update_book(who.token, change)
    return RedirectResponse(f"/books/{updated.id}", 303)
