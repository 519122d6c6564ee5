"""End to end: the shop as a newcomer runs it (`folio up`), browsed and broken through HTTP.

The browsing tests use the shared stack; the outage test and the last test, which stops the stack
and checks nothing is left behind, have one of their own and run in file order.
"""

import html
import os
import re
import signal
import socket
import time
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from folio_catalog.seed import SeedCatalog
from folio_cli.main import app as folio
from folio_cli.services import SERVICES

from .conftest import STACK_START_SECONDS

pytestmark = pytest.mark.e2e


def _page(response: httpx.Response) -> str:
    assert response.status_code == 200, response.text[:500]
    assert response.headers["content-type"].startswith("text/html")
    return html.unescape(response.text)


def _status(shop) -> tuple[int, str]:
    overrides = [f"--port={name}={port}" for name, port in shop.stack.ports.items()]
    result = CliRunner().invoke(folio, ["status", *overrides])
    return result.exit_code, result.output


def _seed_book(seed: SeedCatalog, book_id: str):
    book = next((b for b in seed.books if b.id == book_id), None)
    assert book is not None, f"the bundled seed catalog should hold {book_id!r}"
    return book


def test_up_reports_time_to_healthy_and_loads_the_seed_catalog(shop, seed) -> None:
    assert 0 < shop.took < STACK_START_SECONDS
    loaded = re.search(
        r"catalog +\| INFO +folio_catalog\.seed: seed catalog loaded added_books=(\d+)", shop.log()
    )
    assert loaded, shop.log()
    assert int(loaded.group(1)) == len(seed.books)
    assert (shop.data_dir / "catalog.db").is_file()


def test_folio_status_reports_every_service_healthy(shop) -> None:
    code, output = _status(shop)

    assert code == 0, output
    for name, port in shop.stack.ports.items():
        assert re.search(rf"^{name} +127\.0\.0\.1:{port} +healthy$", output, re.M), output


def test_home_page_shows_genres_and_featured_books(web, seed) -> None:
    text = _page(web.get("/"))

    for genre in seed.genres:
        assert f'<a href="/genres/{genre.id}">{genre.name}</a>' in text
    featured = sorted((b for b in seed.books if b.featured), key=lambda b: (b.title, b.id))[:12]
    assert featured
    for book in featured:
        assert f'<a href="/books/{book.id}" class="book-title">{book.title}</a>' in text


def test_rest_api_serves_the_whole_seed_catalog_page_by_page(web, seed) -> None:
    ids: list[str] = []
    token = None
    while True:
        body = web.get(
            "/api/v1/books", params={"page_size": 100} | ({"page_token": token} if token else {})
        ).json()
        assert body["total"] == len(seed.books)
        ids.extend(item["id"] for item in body["items"])
        token = body["next_page_token"]
        if token is None:
            break

    assert len(seed.books) >= 500
    assert sorted(ids) == sorted(b.id for b in seed.books)
    assert len(set(ids)) == len(ids)


def test_searching_whale_finds_moby_dick_first(web, seed) -> None:
    moby = _seed_book(seed, "moby-dick")

    body = web.get("/api/v1/search", params={"q": "whale"}).json()

    assert body["items"][0]["id"] == moby.id
    assert body["items"][0]["title"] == moby.title


def test_book_genre_and_author_pages(web, seed) -> None:
    moby = _seed_book(seed, "moby-dick")

    book = _page(web.get(f"/books/{moby.id}"))
    assert f"<h1>{moby.title}</h1>" in book
    assert f'<a href="/authors/{moby.author_id}">{moby.author_name}</a>' in book

    genre_id, genre_name = moby.genres[0]
    genre = _page(web.get(f"/genres/{genre_id}"))
    assert f"<h1>{genre_name}</h1>" in genre
    assert f"{sum(genre_id in dict(b.genres) for b in seed.books)} books" in genre

    author = _page(web.get(f"/authors/{moby.author_id}"))
    assert f"<h1>{moby.author_name}</h1>" in author
    for other in (b for b in seed.books if b.author_id == moby.author_id):
        assert f'href="/books/{other.id}"' in author


@pytest.mark.own_stack
def test_catalog_outage_is_reported_and_recovers(shop, web, seed) -> None:
    stack = shop.stack
    assert web.get("/api/v1/books/moby-dick").status_code == 200

    started = time.monotonic()
    code = stack.stop("catalog")
    try:
        # SIGTERM drains gracefully (and long before the launcher's 10 s kill).
        assert code in (0, -signal.SIGTERM)
        assert time.monotonic() - started < 10
        assert re.search(r"catalog +\| INFO +folio_platform\.grpc_server: grpc server stopped", shop.log())

        api = web.get("/api/v1/books/moby-dick")
        assert api.status_code == 503
        assert api.json()["error"]["code"] == "dependency_unavailable"
        assert api.json()["error"]["dependency"] == "catalog"

        page = web.get("/")
        assert page.status_code == 503
        assert page.headers["content-type"].startswith("text/html")
        assert "The catalog service is not answering" in page.text

        assert web.get("/readyz").status_code == 503
        assert web.get("/healthz").status_code == 200
        code, output = _status(shop)
        assert code == 1
        assert re.search(r"^catalog .* down$", output, re.M), output
    finally:
        stack.start("catalog")
        stack.wait_healthy(["catalog", "storefront"], timeout=30)

    book = web.get("/api/v1/books/moby-dick")
    assert book.status_code == 200
    assert book.json()["id"] == "moby-dick"
    # The data lives in the data dir, so a restart finds it rather than loading it again.
    assert web.get("/api/v1/books", params={"page_size": 1}).json()["total"] == len(seed.books)
    assert "seed catalog loaded added_books=0" in shop.log()


def test_every_shop_service_settles_its_heap_once_warm(shop) -> None:
    """Each service's start-up objects leave the collector's walk once it is warm
    (`folio_platform.heap`): without it, a full collection paused a service for 80-250 ms under
    steady traffic, the p99 of whichever request arrived then."""
    services = {"catalog", "cart", "payment", "orders", "assistant", "storefront"}
    settled: set[str] = set()
    deadline = time.monotonic() + 30
    while settled != services and time.monotonic() < deadline:
        time.sleep(0.2)
        settled = {
            name
            for name in services
            if re.search(
                rf"^{name} +\| INFO +folio_platform\.heap: heap settled .*frozen=[1-9]", shop.log(), re.M
            )
        }
    assert settled == services, shop.log()


def _session_members(session_ids: set[int]) -> list[int]:
    """Live processes whose session is one of `session_ids` (each service leads its own)."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # Fields after the parenthesised command: state ppid pgrp session ...
        fields = stat.rsplit(")", 1)[1].split()
        if fields[0] != "Z" and int(fields[3]) in session_ids:
            members.append(int(entry.name))
    return members


def _listening(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.mark.own_stack
def test_down_stops_every_service_and_leaves_no_process(shop) -> None:
    stack = shop.stack
    pids = {name: process.pid for name, process in stack.processes.items()}
    assert set(pids) == {s.name for s in SERVICES}

    stack.down()

    for name, process in stack.processes.items():
        assert process.poll() is not None, f"{name} still running"
        with pytest.raises(ProcessLookupError):
            os.kill(process.pid, 0)
    assert _session_members(set(pids.values())) == []
    assert not any(_listening(port) for port in stack.ports.values())
    code, _ = _status(shop)
    assert code == 1
