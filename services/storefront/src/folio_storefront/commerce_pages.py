"""Cart, checkout and order pages. Each shopper sees only their own (session cookie)."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from folio_storefront.commerce import ID, CheckoutIn, cart_view, order_view, place_order_request
from folio_storefront.deps import CartDep, CatalogDep, OrdersDep, ShopperDep, TemplatesDep
from folio_storefront.errors import BadRequest, Conflict
from folio_storefront.shopper import same_origin

router = APIRouter(include_in_schema=False, dependencies=[Depends(same_origin)])
BookField = Annotated[str, Form(pattern=ID, max_length=160)]
Quantity = Annotated[int, Form(ge=1, le=99)]


def _see(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


@router.post("/cart/add")
async def add_to_cart(
    book_id: BookField, shopper: ShopperDep, cart: CartDep, catalog: CatalogDep, quantity: Quantity = 1
) -> Response:
    book = await catalog.get_book(book_id)
    if book.stock <= 0:
        raise Conflict(f"'{book.title}' is out of stock")
    await cart.add(shopper, book_id, quantity)
    return _see("/cart")


@router.post("/cart/update")
async def update_cart(book_id: BookField, quantity: Quantity, shopper: ShopperDep, cart: CartDep) -> Response:
    await cart.update(shopper, book_id, quantity)
    return _see("/cart")


@router.post("/cart/remove")
async def remove_from_cart(book_id: BookField, shopper: ShopperDep, cart: CartDep) -> Response:
    await cart.remove(shopper, book_id)
    return _see("/cart")


@router.get("/cart", response_class=HTMLResponse)
async def cart_page(
    request: Request, shopper: ShopperDep, cart: CartDep, catalog: CatalogDep, templates: TemplatesDep
) -> HTMLResponse:
    view = await cart_view(await cart.get(shopper), catalog)
    return templates.TemplateResponse(request, "cart.html", {"cart": view})


def _checkout_form(
    request: Request,
    templates: TemplatesDep,
    view: object,
    form: dict[str, str],
    error: str = "",
    field: str = "",
    status: int = 200,
) -> HTMLResponse:
    context = {
        "cart": view,
        "form": form,
        "error": error,
        "error_field": field,
        "key": form.get("idempotency_key"),
    }
    return templates.TemplateResponse(request, "checkout.html", context, status_code=status)


@router.get("/checkout", response_class=HTMLResponse)
async def checkout_page(
    request: Request, shopper: ShopperDep, cart: CartDep, catalog: CatalogDep, templates: TemplatesDep
) -> Response:
    view = await cart_view(await cart.get(shopper), catalog)
    if not view.items:
        return _see("/cart")
    # One key per rendered form: a double-submitted or retried form places one order.
    return _checkout_form(request, templates, view, {"idempotency_key": uuid.uuid4().hex})


@router.post("/checkout", response_class=HTMLResponse)
async def checkout(
    request: Request,
    shopper: ShopperDep,
    cart: CartDep,
    catalog: CatalogDep,
    orders: OrdersDep,
    templates: TemplatesDep,
) -> Response:
    raw = {k: str(v) for k, v in (await request.form()).items()}
    key = raw.get("idempotency_key", "")
    # Never echo card secrets back into the page.
    form = {k: v for k, v in raw.items() if k not in ("card_number", "card_cvv")}
    try:
        checkout_in = CheckoutIn.model_validate(
            {
                "email": raw.get("email", ""),
                "shipping_address": {
                    f: raw.get(f, "") for f in ("name", "line1", "line2", "city", "postal_code", "country")
                }
                | {"country": raw.get("country", "").strip().upper()},
                "card": {
                    "number": raw.get("card_number", ""),
                    "exp_month": raw.get("card_exp_month") or 0,
                    "exp_year": raw.get("card_exp_year") or 0,
                    "cvv": raw.get("card_cvv", ""),
                    "holder_name": raw.get("card_holder_name", ""),
                },
            }
        )
        if not 8 <= len(key) <= 100:
            raise BadRequest("this form has expired; please review your order and submit again", field="form")
        order = await orders.place(shopper, place_order_request(shopper, key, checkout_in))
    except ValidationError as error:
        first = error.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        message, status = f"{field}: {first['msg']}", 400
    except (BadRequest, Conflict) as error:
        message, status, field = error.message, error.status_code, error.field or ""
    else:
        return _see(f"/orders/{order.id}")
    # A refused attempt (a mistyped card, a declined one, too few copies) is over: the corrected
    # form is a new attempt and needs a new key, or orders would answer the old refusal again.
    form["idempotency_key"] = uuid.uuid4().hex
    view = await cart_view(await cart.get(shopper), catalog)
    return _checkout_form(request, templates, view, form, message, field, status)


@router.get("/orders", response_class=HTMLResponse)
async def orders_page(
    request: Request, shopper: ShopperDep, orders: OrdersDep, templates: TemplatesDep
) -> HTMLResponse:
    page = await orders.list(shopper, page_size=50)
    return templates.TemplateResponse(
        request, "orders.html", {"orders": [order_view(o) for o in page.orders]}
    )


@router.get("/orders/{order_id}", response_class=HTMLResponse)
async def order_page(
    request: Request,
    order_id: Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{1,100}$")],
    shopper: ShopperDep,
    orders: OrdersDep,
    templates: TemplatesDep,
) -> HTMLResponse:
    order = order_view(await orders.get(shopper, order_id))
    return templates.TemplateResponse(request, "order.html", {"order": order})
