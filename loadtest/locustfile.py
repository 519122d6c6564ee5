"""Locust shopper journeys against the storefront: `make load` (web UI) and `make bench` (headless).

Weights follow how people use a bookshop: most requests browse (home, genres, book pages,
search), fewer add to a cart, fewer still check out. Host, users and spawn rate come from the
Locust command line or LOCUST_* environment variables, so the same file drives `make up` on a
laptop or a cluster URL.

FOLIO_LOAD_RATE (requests per second per simulated shopper) switches to Poisson pacing, which
`loadtest.bench --knee` uses to hold a fixed arrival rate per step: each shopper's requests are
due at exponentially spaced times, independent of how long answers take, so the shoppers together
make one open stream of independent arrivals. (Locust's own `constant_throughput` keeps shoppers
that start together in step: their requests arrive in bursts, and the queue each burst makes in
the shop, not the shop's own latency, set p50 and p99.)

FOLIO_LOAD_SIGNIN=user:password (with FOLIO_LOAD_ISSUER, FOLIO_LOAD_CLIENT_SECRET) adds signed-in
shoppers (`Member`): each signs in once through the identity provider (authorization code + PKCE,
as the storefront's client) and then shops with its bearer token. `make bench` sets them for the
local stack; a cluster run sets them for a test user of its Keycloak.
"""

import base64
import hashlib
import os
import random
import secrets
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import gevent  # type: ignore[import-untyped]
from locust import FastHttpUser, between, events, task

from folio_platform.heap import settle_heap
from folio_testing.data import checkout


@events.init.add_listener  # type: ignore[untyped-decorator]
def _fresh_clock(**_: object) -> None:
    """gevent's loop caches its clock: after a slow start (imports on a loaded machine) the run-time
    limit (-t) would count from that stale time and stop the run at once. Refresh it first."""
    gevent.get_hub().loop.update_now()


@events.init.add_listener  # type: ignore[untyped-decorator]
def _settled_heap(**_: object) -> None:
    """The load generator's own full collections (40-55 ms, walking Locust's, gevent's and Flask's
    start-up objects) stalled every request in flight and showed up as the shop's p99: settle the
    heap once, as the services do."""
    settle_heap()


if os.environ.get("FOLIO_LOAD_STEPS"):
    # `make bench KNEE=1`: Locust runs the arrival-rate steps it finds here instead of -u/-t.
    from loadtest.arrival_shape import ArrivalSteps  # noqa: F401

CHECKOUT = checkout(email="load@example.org")
WORDS = ["whale", "sea", "love", "war", "detective", "ghost", "island", "king", "voyage", "murder", "garden"]
_RATE = float(os.environ.get("FOLIO_LOAD_RATE", "0"))


def _paced(rate: float) -> Callable[[Any], float]:
    # Imported here: the bench runs Locust from the repository root (`python -m locust`), where
    # loadtest is importable; `make load` runs this file on its own and needs no pacing.
    from loadtest.steps import poisson_pacing

    return poisson_pacing(rate)


class Shopper(FastHttpUser):
    """A guest shopper (the session cookie is theirs alone) browsing, buying now and then."""

    wait_time = _paced(_RATE) if _RATE > 0 else between(0.5, 2.0)

    def on_start(self) -> None:
        # Test data fetched from the shop itself, so the journeys fit whatever catalog it serves.
        # Setup requests are named "setup: ..." so the steady-state figures can leave them out.
        books = self.client.get("/api/v1/books?page_size=100", name="setup: books").json()["items"]
        self.books = [b["id"] for b in books] or ["moby-dick"]
        self.in_stock = [b["id"] for b in books if b["in_stock"]] or self.books
        self.genres = [g["id"] for g in self.client.get("/api/v1/genres", name="setup: genres").json()]
        self.has_assistant = (
            self.client.get("/openapi.json", name="setup: openapi")
            .json()["paths"]
            .get("/api/v1/assistant/search")
            is not None
        )

    @task(8)
    def home(self) -> None:
        self.client.get("/", name="/ (home page)")

    @task(6)
    def genre(self) -> None:
        self.client.get(f"/api/v1/books?genre={random.choice(self.genres)}", name="/api/v1/books?genre")

    @task(12)
    def book(self) -> None:
        self.client.get(f"/api/v1/books/{random.choice(self.books)}", name="/api/v1/books/[id]")

    @task(5)
    def search(self) -> None:
        self.client.get(f"/api/v1/search?q={random.choice(WORDS)}", name="/api/v1/search")

    @task(2)
    def ask(self) -> None:
        if self.has_assistant:
            self.client.get(
                f"/api/v1/assistant/search?q={random.choice(WORDS)}", name="/api/v1/assistant/search"
            )

    @task(3)
    def add_to_cart(self) -> None:
        book = random.choice(self.in_stock)
        with self.client.post(
            "/api/v1/cart/items", json={"book_id": book}, name="/api/v1/cart/items", catch_response=True
        ) as answer:
            if answer.status_code == 409:
                # Sold out since this shopper listed the books (other shoppers' checkouts), or the cart
                # is full: the shop's right answer, which a person reads and acts on. Not an error.
                answer.success()
                if len(self.in_stock) > 1:
                    self.in_stock.remove(book)

    @task(2)
    def view_cart(self) -> None:
        self.client.get("/api/v1/cart")

    @task(1)
    def checkout(self) -> None:
        headers = {"Idempotency-Key": uuid.uuid4().hex}
        with self.client.post(
            "/api/v1/orders", json=CHECKOUT, headers=headers, catch_response=True
        ) as answer:
            # An empty cart or a sold-out book is the shop working as designed, not a failure.
            if answer.status_code in (201, 409):
                answer.success()

    @task(1)
    def orders(self) -> None:
        self.client.get("/api/v1/orders")


class Member(Shopper):
    """A signed-in shopper: signs in once, then shops and checks out with its own bearer token."""

    weight = 1 if os.environ.get("FOLIO_LOAD_SIGNIN") else 0

    def on_start(self) -> None:
        username, _, password = os.environ["FOLIO_LOAD_SIGNIN"].partition(":")
        issuer = os.environ["FOLIO_LOAD_ISSUER"].rstrip("/")
        redirect = f"{(self.host or '').rstrip('/')}/signin/callback"
        verifier = secrets.token_urlsafe(48)
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        form = {
            "client_id": "folio-storefront", "redirect_uri": redirect, "code_challenge": challenge,
            "code_challenge_method": "S256", "username": username, "password": password,
        }  # fmt: skip
        back = self.client.post(
            f"{issuer}/authorize", data=form, name="setup: sign in (authorize)", allow_redirects=False
        )
        code = parse_qs(urlsplit(str(back.headers and back.headers["location"])).query)["code"][0]
        secret = os.environ.get("FOLIO_LOAD_CLIENT_SECRET", "")
        basic = base64.b64encode(f"folio-storefront:{secret}".encode()).decode()
        tokens = self.client.post(
            f"{issuer}/token",
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": redirect,
                "code_verifier": verifier,
            },
            headers={"Authorization": f"Basic {basic}"},
            name="setup: sign in (token)",
        ).json()
        # The session's own Authorization header: every later request carries the member's token.
        self.client.auth_header = f"Bearer {tokens['access_token']}"
        super().on_start()
