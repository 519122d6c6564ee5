"""End to end: people sign in through the identity provider and see only their own cart and orders.

The stack runs the development OpenID provider in Keycloak's place; the storefront and every
service run the same OIDC and JWT code they run against Keycloak.
"""

import base64
import hashlib
import re
import secrets
from html import unescape
from urllib.parse import parse_qs, urlsplit

import grpc
import httpx
import jwt
import pytest

from folio.cart.v1 import cart_pb2, cart_pb2_grpc
from folio.catalog.v1 import catalog_pb2, catalog_pb2_grpc
from folio.orders.v1 import orders_pb2, orders_pb2_grpc
from folio.payment.v1 import payment_pb2, payment_pb2_grpc
from folio_cli import dev_identity
from folio_platform.auth import bearer
from folio_testing.data import checkout
from folio_testing.issuer import SigningKey

pytestmark = pytest.mark.e2e


def _browser_sign_in(browser: httpx.Client, shop, username: str) -> httpx.Response:  # type: ignore[no-untyped-def]
    """What a browser does: storefront -> provider's login form -> post credentials -> back."""
    to_provider = browser.get("/signin", params={"next": "/cart"})
    assert to_provider.status_code in (302, 303, 307), to_provider.text
    login_url = to_provider.headers["location"]
    assert login_url.startswith(shop.stack.url("dev-oidc").rstrip("/"))
    assert "code_challenge_method=S256" in login_url
    form = httpx.get(login_url)
    assert form.status_code == 200
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', form.text))
    fields = {k: unescape(v) for k, v in fields.items()}
    password = dev_identity.passwords(shop.data_dir)[username]
    back = httpx.post(login_url.split("?")[0], data=fields | {"username": username, "password": password})
    assert back.status_code == 303, back.text
    return browser.get(back.headers["location"])


def _api_token(shop, username: str) -> str:  # type: ignore[no-untyped-def]
    """An access token for `username` as a REST client gets one (authorization code + PKCE)."""
    issuer = shop.stack.url("dev-oidc").rstrip("/")
    storefront = shop.stack.url("storefront").rstrip("/")
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    redirect = f"{storefront}/signin/callback"
    back = httpx.post(
        f"{issuer}/authorize",
        data={
            "client_id": "folio-storefront",
            "redirect_uri": redirect,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            "username": username,
            "password": dev_identity.passwords(shop.data_dir)[username],
        },
    )
    code = parse_qs(urlsplit(back.headers["location"]).query)["code"][0]
    secret = dev_identity.client_secret(shop.data_dir, "folio-storefront")
    tokens = httpx.post(
        f"{issuer}/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect,
            "code_verifier": verifier,
        },
        auth=("folio-storefront", secret),
    )
    assert tokens.status_code == 200, tokens.text
    return str(tokens.json()["access_token"])


def test_a_guest_cart_moves_into_the_signed_in_persons_cart(shop) -> None:  # type: ignore[no-untyped-def]
    with httpx.Client(base_url=shop.stack.url("storefront"), timeout=10) as browser:
        assert (
            browser.post("/api/v1/cart/items", json={"book_id": "moby-dick", "quantity": 2}).status_code
            == 200
        )
        landed = _browser_sign_in(browser, shop, "carol")
        assert landed.status_code == 303
        assert landed.headers["location"] == "/cart"
        page = browser.get("/cart")
        assert "carol" in page.text
        lines = browser.get("/api/v1/cart").json()["items"]
        assert [(line["book"]["id"], line["quantity"]) for line in lines] == [("moby-dick", 2)]
        signed_out = browser.post("/signout")
        assert signed_out.status_code == 303
        # Signed out, the browser is a guest again with an empty cart of its own.
        assert browser.get("/api/v1/cart").json()["items"] == []


def test_people_see_only_their_own_cart_and_orders(shop) -> None:  # type: ignore[no-untyped-def]
    alice, bob = _api_token(shop, "alice"), _api_token(shop, "bob")
    base = shop.stack.url("storefront")
    with (
        httpx.Client(base_url=base, headers={"Authorization": f"Bearer {alice}"}, timeout=15) as as_alice,
        httpx.Client(base_url=base, headers={"Authorization": f"Bearer {bob}"}, timeout=15) as as_bob,
    ):
        as_alice.post("/api/v1/cart/items", json={"book_id": "dracula", "quantity": 1}).raise_for_status()
        order = as_alice.post(
            "/api/v1/orders",
            json=checkout(email="alice@folio.example"),
            headers={"Idempotency-Key": secrets.token_hex(8)},
        )
        assert order.status_code == 201, order.text
        assert as_bob.get("/api/v1/cart").json()["items"] == []
        assert as_bob.get(f"/api/v1/orders/{order.json()['id']}").status_code == 404
        assert as_bob.get("/api/v1/orders").json()["items"] == []
        assert [o["id"] for o in as_alice.get("/api/v1/orders").json()["items"]] == [order.json()["id"]]

    # Below the storefront: Bob's own token does not open Alice's cart or orders either.
    alice_id = jwt.decode(alice, options={"verify_signature": False})["sub"]
    with grpc.insecure_channel(f"127.0.0.1:{shop.stack.ports['cart']}") as channel:
        with pytest.raises(grpc.RpcError) as refused:
            cart_pb2_grpc.CartServiceStub(channel).GetCart(
                cart_pb2.GetCartRequest(shopper_id=alice_id), metadata=bearer(bob), timeout=5
            )
        assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED  # type: ignore[attr-defined]
    with grpc.insecure_channel(f"127.0.0.1:{shop.stack.ports['orders']}") as channel:
        with pytest.raises(grpc.RpcError) as refused:
            orders_pb2_grpc.OrdersServiceStub(channel).ListOrders(
                orders_pb2.ListOrdersRequest(shopper_id=alice_id), metadata=bearer(bob), timeout=5
            )
        assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED  # type: ignore[attr-defined]


def _forged(shop) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """Tokens an attacker can make without the provider's key, each shaped like a real one."""
    issuer = shop.stack.url("dev-oidc").rstrip("/")
    claims = {"iss": issuer, "aud": "folio", "sub": "x", "exp": 4102444800, "iat": 1700000000}
    own_key = SigningKey.generate()
    return {
        "signed by an unknown key": jwt.encode(
            claims, own_key.private, "RS256", headers={"kid": own_key.kid}
        ),
        "alg none": jwt.encode(claims, "", "none"),
        "garbage": "not-a-jwt",
    }


def test_forged_tokens_are_refused_by_every_service(shop) -> None:  # type: ignore[no-untyped-def]
    ports = shop.stack.ports
    calls = {
        "catalog": lambda ch, md: catalog_pb2_grpc.CatalogServiceStub(ch).ReleaseStock(
            catalog_pb2.ReleaseStockRequest(reservation_id="r-1"), metadata=md, timeout=5
        ),
        "cart": lambda ch, md: cart_pb2_grpc.CartServiceStub(ch).GetCart(
            cart_pb2.GetCartRequest(shopper_id="x"), metadata=md, timeout=5
        ),
        "payment": lambda ch, md: payment_pb2_grpc.PaymentServiceStub(ch).GetPayment(
            payment_pb2.GetPaymentRequest(idempotency_key="order-x"), metadata=md, timeout=5
        ),
        "orders": lambda ch, md: orders_pb2_grpc.OrdersServiceStub(ch).ListOrders(
            orders_pb2.ListOrdersRequest(shopper_id="x"), metadata=md, timeout=5
        ),
    }
    for kind, token in _forged(shop).items():
        for service, call in calls.items():
            with grpc.insecure_channel(f"127.0.0.1:{ports[service]}") as channel:
                with pytest.raises(grpc.RpcError) as refused:
                    call(channel, bearer(token))
                code = refused.value.code()  # type: ignore[attr-defined]
                assert code == grpc.StatusCode.UNAUTHENTICATED, f"{service} accepted a token {kind}"
        answer = httpx.get(
            f"{shop.stack.url('storefront')}api/v1/cart", headers={"Authorization": f"Bearer {token}"}
        )
        assert answer.status_code == 401, f"storefront accepted a token {kind}"
        assert answer.json()["error"]["code"] == "unauthenticated"


def test_only_a_catalog_admin_changes_the_catalog(shop) -> None:  # type: ignore[no-untyped-def]
    base = shop.stack.url("storefront")
    with httpx.Client(base_url=base, timeout=10) as guest:
        to_signin = guest.get("/admin")
        assert to_signin.status_code == 303
        assert to_signin.headers["location"] == "/signin?next=/admin"
    with httpx.Client(base_url=base, timeout=10) as bob:
        _browser_sign_in(bob, shop, "bob")
        assert bob.get("/admin").status_code == 403
        refused = bob.post("/admin/books/update", data={"book_id": "emma", "stock": "0"})
        assert refused.status_code == 403
    with httpx.Client(base_url=base, timeout=10) as carol:
        _browser_sign_in(carol, shop, "carol")
        page = carol.get("/admin")
        assert page.status_code == 200
        assert "Catalog admin" in page.text
        saved = carol.post("/admin/books/update", data={"book_id": "emma", "stock": "7", "price": "12.50"})
        assert saved.status_code == 303
        book = carol.get("/api/v1/books/emma").json()
        assert (book["stock"], book["price"]["amount"]) == (7, "12.50")
