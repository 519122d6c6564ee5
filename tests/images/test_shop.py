"""The whole shop from the rendered chart's own pod specs, one pod per workload on the run's network:
each pod as its securityContext says, the services finding each other by the chart's names and
nothing leaving the machine; then a shopper's journeys through the running containers, and the
catalog's pod stopped and started again."""

from __future__ import annotations

import statistics
import time
import uuid
from typing import TYPE_CHECKING, Any

import httpx
import psycopg
import pytest

from folio_catalog.seed import SeedCatalog
from folio_testing.data import CARD, checkout
from folio_testing.pods import podman

if TYPE_CHECKING:
    from conftest import Shop

pytestmark = pytest.mark.timeout(1800)


def _status(shop: Shop, name: str) -> dict[str, str]:
    text = podman("exec", shop.runner.container(name), "cat", "/proc/1/status").stdout
    return dict(line.split(":\t", 1) for line in text.splitlines() if ":\t" in line)


def _in_stock_book(web: httpx.Client, minimum: int) -> dict[str, Any]:
    page = web.get("/api/v1/books", params={"page_size": 100}).json()
    return next(b for b in page["items"] if b["stock"] >= minimum)


def _stock(web: httpx.Client, book_id: str) -> int:
    return int(web.get(f"/api/v1/books/{book_id}").json()["stock"])


def _place_order(web: httpx.Client, key: str | None = None) -> httpx.Response:
    return web.post(
        "/api/v1/orders", json=checkout(CARD), headers={"Idempotency-Key": key or uuid.uuid4().hex}
    )


def test_every_pod_runs_as_its_spec_says(shop: Shop) -> None:
    for name, workload in shop.runner.pods.items():
        spec = workload.container
        status = _status(shop, name)
        assert status["Uid"].split()[0] == str(spec["securityContext"]["runAsUser"]), name
        assert int(status["CapEff"], 16) == 0, f"{name} keeps capabilities {status['CapEff']}"
        assert status["NoNewPrivs"].strip() == "1", name
        written = podman("exec", shop.runner.container(name), "touch", "/app/written", check=False)
        assert "Read-only file system" in written.stderr, name
        memory = podman("inspect", "--format", "{{.HostConfig.Memory}}", shop.runner.container(name)).stdout
        assert int(memory) > 0, f"{name} runs without its memory limit"


def test_services_reach_each_other_by_the_charts_names_and_nothing_leaves(shop: Shop) -> None:
    hosts = podman("exec", shop.runner.container("orders"), "cat", "/etc/hosts").stdout.split("\n")
    assert f"{shop.runner.addresses['catalog']}\tcatalog" in hosts
    assert any(line.endswith("identity.folio.test") for line in hosts)
    internal = podman("network", "inspect", "--format", "{{.Internal}}", shop.runner.network.name).stdout
    assert internal.strip() == "true"
    outside = podman(
        "exec", shop.runner.container("storefront"), "python", "-c",
        "import socket; socket.create_connection(('1.1.1.1', 443), timeout=5)", check=False,
    )  # fmt: skip
    assert "Network is unreachable" in outside.stderr


def test_home_a_book_and_search(shop: Shop, seed: SeedCatalog) -> None:
    moby = next(b for b in seed.books if b.id == "moby-dick")
    with shop.shopper() as web:
        home = web.get("/")
        assert home.status_code == 200, home.text
        assert all(f'<a href="/genres/{g.id}">' in home.text for g in seed.genres)

        book = web.get(f"/books/{moby.id}")
        assert book.status_code == 200
        assert f"<h1>{moby.title}</h1>" in book.text

        found = web.get("/api/v1/search", params={"q": "whale"}).json()
        assert found["items"][0]["id"] == moby.id


def test_checkout_with_the_test_card(shop: Shop) -> None:
    with shop.shopper() as web:
        book = _in_stock_book(web, 2)
        before = _stock(web, book["id"])
        cart = web.post("/api/v1/cart/items", json={"book_id": book["id"], "quantity": 2})
        assert cart.status_code == 200, cart.text

        placed = _place_order(web)

        assert placed.status_code == 201, placed.text
        order = placed.json()
        assert order["status"] == "confirmed"
        assert _stock(web, book["id"]) == before - 2
        assert web.get("/api/v1/cart").json()["items"] == []
    with psycopg.connect(shop.platform.databases["payment"]) as db:
        charges = db.execute("SELECT status FROM payments WHERE reference = %s", (order["id"],)).fetchall()
    assert len(charges) == 1, charges


def test_the_assistant_answers_through_the_storefront(shop: Shop) -> None:
    with (
        shop.shopper() as web,
        web.stream(
            "GET", "/api/v1/assistant/ask", params={"q": "Which books by Mary Shelley do you have?"}
        ) as response,
    ):
        assert response.status_code == 200
        body = "".join(response.iter_text())
    assert "event: done" in body
    for book in ("frankenstein", "valperga", "last-man"):
        assert f'"id": "{book}"' in body or f'"id":"{book}"' in body, body[-800:]


def test_the_catalog_pod_stops_and_the_shop_degrades_then_recovers(shop: Shop) -> None:
    runner = shop.runner
    with shop.shopper() as web, shop.shopper() as newcomer:
        book = _in_stock_book(web, 1)
        assert web.post("/api/v1/cart/items", json={"book_id": book["id"], "quantity": 1}).status_code == 200

        stopped = runner.stop("catalog")
        try:
            assert stopped.pre_stop is not None
            assert stopped.pre_stop.returncode == 0, f"preStop failed: {stopped.pre_stop.stderr}"
            assert stopped.exit_code == 0, f"catalog did not drain cleanly:\n{runner.logs('catalog')}"

            down = web.get(f"/api/v1/books/{book['id']}")
            assert down.status_code == 503
            assert down.json()["error"]["dependency"] == "catalog"
            page = web.get(f"/books/{book['id']}")
            assert page.status_code == 503
            assert "The catalog service is not answering" in page.text
            # The cart answers without the catalog; a cart with books needs it to price them.
            assert newcomer.get("/api/v1/cart").json()["items"] == []
            priced = web.get("/api/v1/cart")
            assert priced.status_code == 503
            assert priced.json()["error"]["dependency"] == "catalog"
            assert web.get("/healthz").status_code == 200, "the storefront stays alive (no restart)"
            assert web.get("/readyz").status_code == 503
        finally:
            runner.start("catalog")
            runner.wait_ready(["catalog"], timeout=300)

        deadline = time.monotonic() + 60
        while (again := web.get(f"/books/{book['id']}")).status_code != 200 and time.monotonic() < deadline:
            time.sleep(1)
        assert again.status_code == 200, f"the shop did not recover:\n{runner.logs('storefront')}"
        assert [item["book_id"] for item in web.get("/api/v1/cart").json()["items"]] == [book["id"]]
        # The whole saga works again: a checkout retried with its key (as the 503 asks) goes through.
        key = uuid.uuid4().hex
        while (placed := _place_order(web, key)).status_code == 503 and time.monotonic() < deadline + 60:
            time.sleep(1)
        assert placed.status_code == 201, placed.text


def test_checkout_latency_through_the_containers(shop: Shop, figures: dict[str, str]) -> None:
    """Not a gate: the p50 of 20 checkouts one after another, printed with the run's figures."""
    took = []
    with shop.shopper() as web:
        book = _in_stock_book(web, 25)
        for _ in range(20):
            web.post("/api/v1/cart/items", json={"book_id": book["id"], "quantity": 1})
            started = time.perf_counter()
            placed = _place_order(web)
            took.append(time.perf_counter() - started)
            assert placed.status_code == 201, placed.text
    figures["checkout p50 / max (20 in a row)"] = (
        f"{statistics.median(took) * 1000:.0f} ms / {max(took) * 1000:.0f} ms"
    )
