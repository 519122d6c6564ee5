"""Buying books end to end: cart, checkout saga, payment, history — through the storefront,
with every service running as a process started by the launcher."""

import concurrent.futures
import uuid

import grpc
import httpx
import pytest
from typer.testing import CliRunner

from folio.payment.v1 import payment_pb2, payment_pb2_grpc
from folio_cli import dev_identity
from folio_cli.main import app as folio
from folio_platform.auth import bearer
from folio_testing.data import (
    BAD_LUHN_CARD,
    BAD_LUHN_CARD_NUMBER,
    CARD,
    DECLINED_CARD,
    EMAIL,
    GOOD_CARD_NUMBER,
    LOST_ANSWER_CARD_NUMBER,
    checkout,
)

pytestmark = pytest.mark.e2e


def _shopper(shop) -> httpx.Client:
    """A fresh shopper: its own cookie jar, so its own anonymous cart and orders."""
    return httpx.Client(base_url=shop.stack.url("storefront"), timeout=30)


def _checkout(
    client: httpx.Client, *, card: dict[str, object] = CARD, key: str | None = None
) -> httpx.Response:
    return client.post(
        "/api/v1/orders", json=checkout(card), headers={"Idempotency-Key": key or uuid.uuid4().hex}
    )


def _stock(client: httpx.Client, book_id: str) -> int:
    return int(client.get(f"/api/v1/books/{book_id}").json()["stock"])


def _reconcile(shop) -> tuple[int, str]:
    ports = [f"--port={name}={port}" for name, port in shop.stack.ports.items()]
    result = CliRunner().invoke(folio, ["reconcile", *ports, "--data-dir", str(shop.data_dir)])
    return result.exit_code, result.output


def _in_stock_book(client: httpx.Client, minimum: int) -> dict[str, object]:
    page = client.get("/api/v1/books", params={"page_size": 100}).json()
    return next(b for b in page["items"] if b["stock"] >= minimum)


def test_a_shopper_buys_books_and_sees_the_order(shop) -> None:
    with _shopper(shop) as shopper:
        book = _in_stock_book(shopper, 2)
        before = _stock(shopper, book["id"])
        cart = shopper.post("/api/v1/cart/items", json={"book_id": book["id"], "quantity": 2})
        assert cart.status_code == 200, cart.text
        assert cart.json()["item_count"] == 2

        placed = _checkout(shopper)

        assert placed.status_code == 201, placed.text
        order = placed.json()
        assert order["status"] == "confirmed"
        assert order["total"]["minor_units"] == 2 * book["price"]["minor_units"]
        assert _stock(shopper, book["id"]) == before - 2
        assert shopper.get("/api/v1/cart").json()["items"] == []
        history = shopper.get("/api/v1/orders").json()["items"]
        assert [o["id"] for o in history] == [order["id"]]
        with _shopper(shop) as stranger:
            assert stranger.get(f"/api/v1/orders/{order['id']}").status_code == 404


def test_a_declined_card_places_nothing_and_keeps_the_stock(shop) -> None:
    with _shopper(shop) as shopper:
        book = _in_stock_book(shopper, 1)
        before = _stock(shopper, book["id"])
        shopper.post("/api/v1/cart/items", json={"book_id": book["id"], "quantity": 1})

        refused = _checkout(shopper, card=DECLINED_CARD)

        assert refused.status_code == 409, refused.text
        assert "declined" in refused.json()["error"]["message"].lower()
        assert _stock(shopper, book["id"]) == before
        assert len(shopper.get("/api/v1/cart").json()["items"]) == 1


def test_bad_checkout_input_names_the_field(shop) -> None:
    with _shopper(shop) as shopper:
        shopper.post("/api/v1/cart/items", json={"book_id": _in_stock_book(shopper, 1)["id"], "quantity": 1})
        not_luhn = _checkout(shopper, card=BAD_LUHN_CARD)
        assert not_luhn.status_code == 400
        assert not_luhn.json()["error"]["field"] == "card.number"
        assert (
            shopper.post("/api/v1/cart/items", json={"book_id": "no-such-book", "quantity": 1}).status_code
            == 404
        )
        too_many = shopper.post("/api/v1/cart/items", json={"book_id": "moby-dick", "quantity": 1000})
        assert too_many.status_code == 400
        assert too_many.json()["error"]["field"] == "quantity"
    with _shopper(shop) as empty:
        assert _checkout(empty).status_code == 409


def test_a_retried_checkout_places_one_order_and_one_charge(shop) -> None:
    with _shopper(shop) as shopper:
        shopper.post("/api/v1/cart/items", json={"book_id": _in_stock_book(shopper, 1)["id"], "quantity": 1})
        key = uuid.uuid4().hex
        first = _checkout(shopper, key=key)
        again = _checkout(shopper, key=key)

        assert first.status_code == 201, first.text
        assert again.status_code == 201, again.text
        assert again.json()["id"] == first.json()["id"]
        assert len(shopper.get("/api/v1/orders").json()["items"]) == 1
    code, report = _reconcile(shop)
    assert code == 0, report


def _payments_for(shop, order_id: str) -> list[payment_pb2.Payment]:
    """The payment ledger's entries for one order, read as `folio reconcile` reads it."""
    issuer = f"http://127.0.0.1:{shop.stack.ports['dev-oidc']}"
    token = dev_identity.service_token(shop.data_dir, issuer, "folio-orders")
    with grpc.insecure_channel(f"127.0.0.1:{shop.stack.ports['payment']}") as channel:
        listed = payment_pb2_grpc.PaymentServiceStub(channel).ListPayments(
            payment_pb2.ListPaymentsRequest(page_size=100), metadata=bearer(token), timeout=10
        )
    return [p for p in listed.payments if p.reference == order_id]


def test_an_authorization_whose_answer_is_lost_charges_once_and_confirms(shop) -> None:
    """The card processor approves, then times out: payment asks it by key instead of failing or
    charging again, so the order is confirmed with exactly one charge and reconciliation is clean."""
    with _shopper(shop) as shopper:
        shopper.post("/api/v1/cart/items", json={"book_id": _in_stock_book(shopper, 1)["id"], "quantity": 1})
        key = uuid.uuid4().hex

        placed = _checkout(shopper, card=CARD | {"number": LOST_ANSWER_CARD_NUMBER}, key=key)

        assert placed.status_code == 201, placed.text
        order = placed.json()
        assert order["status"] == "confirmed"
        again = _checkout(shopper, card=CARD | {"number": LOST_ANSWER_CARD_NUMBER}, key=key)
        assert again.json()["id"] == order["id"]
    [payment] = _payments_for(shop, order["id"])
    assert payment.status == payment_pb2.PAYMENT_STATUS_SUCCEEDED  # found by key after the timeout
    code, report = _reconcile(shop)
    assert code == 0, report


def test_fifty_shoppers_racing_for_the_last_five_copies(shop) -> None:
    with _shopper(shop) as buyer:
        book = _in_stock_book(buyer, 6)
        # Buy the stock down to exactly five copies.
        buyer.post(
            "/api/v1/cart/items", json={"book_id": book["id"], "quantity": _stock(buyer, book["id"]) - 5}
        )
        assert _checkout(buyer).status_code == 201
        assert _stock(buyer, book["id"]) == 5
    shoppers = [_shopper(shop) for _ in range(50)]
    try:
        for shopper in shoppers:
            assert shopper.post("/api/v1/cart/items", json={"book_id": book["id"]}).status_code == 200
        with concurrent.futures.ThreadPoolExecutor(max_workers=50) as pool:
            results = list(pool.map(_checkout, shoppers))
    finally:
        for shopper in shoppers:
            shopper.close()

    statuses = sorted(r.status_code for r in results)
    assert statuses.count(201) == 5, [r.text for r in results if r.status_code not in (201, 409)]
    assert statuses.count(409) == 45
    with _shopper(shop) as viewer:
        assert _stock(viewer, book["id"]) == 0
    code, report = _reconcile(shop)
    assert code == 0, report


def test_checkout_pages_from_book_to_confirmation(shop) -> None:
    with _shopper(shop) as browser:
        book = _in_stock_book(browser, 1)
        added = browser.post("/cart/add", data={"book_id": book["id"], "quantity": "1"})
        assert added.status_code == 303
        cart_page = browser.get("/cart").text
        assert book["title"] in cart_page
        form = browser.get("/checkout").text
        key = form.split('name="idempotency_key" value="')[1].split('"')[0]
        fields = {
            "idempotency_key": key,
            "email": EMAIL,
            "name": "Ada",
            "line1": "1 Road",
            "city": "Paris",
            "postal_code": "75001",
            "country": "fr",
            "card_holder_name": "Ada",
            "card_number": GOOD_CARD_NUMBER,
            "card_exp_month": "12",
            "card_exp_year": "2035",
            "card_cvv": "123",
        }
        bad = browser.post("/checkout", data=fields | {"card_cvv": "12"})
        assert bad.status_code == 400
        assert "cvv" in bad.text.lower()
        assert GOOD_CARD_NUMBER not in bad.text  # the card number is never echoed back
        # A mistyped digit gets past the form's pattern and is refused by payment (Luhn):
        # the page answering it carries a new key, so the corrected card is a new attempt.
        mistyped = browser.post("/checkout", data=fields | {"card_number": BAD_LUHN_CARD_NUMBER})
        assert 400 <= mistyped.status_code < 500, mistyped.text
        new_key = mistyped.text.split('name="idempotency_key" value="')[1].split('"')[0]
        assert new_key != key

        placed = browser.post("/checkout", data=fields | {"idempotency_key": new_key})

        assert placed.status_code == 303
        confirmation = browser.get(placed.headers["location"]).text
        assert "confirmed" in confirmation
        assert book["title"] in confirmation
        assert book["title"] in browser.get("/orders").text or "confirmed" in browser.get("/orders").text


def test_a_cross_site_form_post_is_refused(shop) -> None:
    with _shopper(shop) as victim:
        forged = victim.post(
            "/cart/add", data={"book_id": "moby-dick"}, headers={"Origin": "https://evil.example"}
        )
        assert forged.status_code == 403
