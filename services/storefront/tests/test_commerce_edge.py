"""The cart and checkout edge: who may call, and bad input refused before any backend is asked.

Cart and orders are not running here (their addresses are closed ports), so anything that
reached them would answer 503: a 400 or 403 proves the edge refused the request itself.
"""

import pytest

from folio_platform.settings import load_settings
from folio_storefront.settings import Settings
from folio_testing.data import checkout

CHECKOUT = checkout()


async def test_checkout_needs_an_idempotency_key(client) -> None:
    response = await client.post("/api/v1/orders", json=CHECKOUT)
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "Idempotency-Key"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"card": CHECKOUT["card"] | {"number": "4242"}}, "card.number"),
        ({"card": CHECKOUT["card"] | {"cvv": "12a"}}, "card.cvv"),
        ({"card": CHECKOUT["card"] | {"exp_month": 13}}, "card.exp_month"),
        ({"email": "not-an-email"}, "email"),
        (
            {"shipping_address": CHECKOUT["shipping_address"] | {"country": "France"}},
            "shipping_address.country",
        ),
    ],
)
async def test_bad_checkout_input_is_refused_naming_the_field(
    client, change: dict[str, object], field: str
) -> None:
    response = await client.post(
        "/api/v1/orders", json=CHECKOUT | change, headers={"Idempotency-Key": "k" * 16}
    )
    assert response.status_code == 400
    assert response.json()["error"]["field"] == field


@pytest.mark.parametrize("quantity", [0, -1, 100, "many"])
async def test_bad_quantities_are_refused(client, quantity: object) -> None:
    response = await client.post("/api/v1/cart/items", json={"book_id": "moby-dick", "quantity": quantity})
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "quantity"


async def test_a_cross_site_request_is_refused(client) -> None:
    forged = await client.post(
        "/api/v1/cart/items", json={"book_id": "moby-dick"}, headers={"Origin": "https://evil.example"}
    )
    assert forged.status_code == 403
    same_site = await client.post(
        "/api/v1/cart/items", json={"book_id": "moby-dick"}, headers={"Origin": "http://storefront.test"}
    )
    assert same_site.status_code != 403


async def test_the_shopper_cookie_is_signed_http_only_and_same_site(client) -> None:
    response = await client.get("/api/v1/cart")

    cookie = response.headers["set-cookie"]
    assert cookie.startswith("folio_session=")
    assert "httponly" in cookie.lower()
    assert "samesite=lax" in cookie.lower()
    # A tampered cookie is ignored: the visitor becomes a new anonymous shopper, not someone else.
    value = cookie.split(";")[0].split("=", 1)[1]
    client.cookies.set("folio_session", value[:-4] + "AAAA")
    again = await client.get("/api/v1/cart")
    assert again.headers["set-cookie"].split(";")[0].split("=", 1)[1] != value


async def test_a_cart_outage_names_the_cart(client) -> None:
    response = await client.get("/api/v1/cart")
    assert response.status_code == 503
    assert response.json()["error"]["dependency"] == "cart"


def test_the_session_secret_is_required_and_must_be_long(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FOLIO_STOREFRONT_SESSION_SECRET", raising=False)
    with pytest.raises(SystemExit, match="FOLIO_STOREFRONT_SESSION_SECRET"):
        load_settings(Settings)
    monkeypatch.setenv("FOLIO_STOREFRONT_SESSION_SECRET", "short")
    with pytest.raises(SystemExit, match="at least 32 characters"):
        load_settings(Settings)
