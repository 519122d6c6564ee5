"""End to end: the assistant in the running shop, through the storefront and the folio CLI."""

import json
import time

import httpx
import pytest
from typer.testing import CliRunner

from folio_cli.main import app as folio

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]


def _port_args(shop) -> list[str]:  # type: ignore[no-untyped-def]
    # Every port: `folio ingest` also asks the local identity provider for the assistant's token.
    return [f"--port={name}={port}" for name, port in shop.stack.ports.items()]


def test_the_shop_is_ready_with_the_assistant_serving(web: httpx.Client) -> None:
    # The storefront's first health probe of a backend may still be connecting (1 s budget).
    deadline = time.monotonic() + 15
    while (ready := web.get("/readyz").json())["status"] != "ready" and time.monotonic() < deadline:
        time.sleep(0.5)
    assert ready["status"] == "ready", ready
    assert ready["checks"]["assistant"] == "serving"


def test_semantic_search_through_the_storefront(web: httpx.Client) -> None:
    response = web.get(
        "/api/v1/assistant/search", params={"q": "a scientist builds a living being from corpses"}
    )
    assert response.status_code == 200
    assert response.json()["books"][0]["id"] == "frankenstein"


def test_ask_streams_an_answer_with_citation_links(web: httpx.Client) -> None:
    with web.stream(
        "GET", "/api/v1/assistant/ask", params={"q": "Which books by Mary Shelley do you have?"}
    ) as response:
        assert response.status_code == 200
        body = "".join(response.iter_text())
    blocks = [
        dict(line.split(": ", 1) for line in block.splitlines()) for block in body.strip().split("\n\n")
    ]
    assert blocks[0]["event"] == "chunk"
    done = json.loads(blocks[-1]["data"])
    assert blocks[-1]["event"] == "done"
    assert done["mode"] == "extractive"
    assert {c["id"] for c in done["citations"]} == {"frankenstein", "valperga", "last-man"}
    assert all(c["url"] == f"/books/{c['id']}" for c in done["citations"])


def test_similar_books_and_the_pages(web: httpx.Client) -> None:
    similar = web.get("/api/v1/books/dracula/similar").json()["books"]
    assert {"jewel-of-seven-stars", "lair-of-the-white-worm"} & {b["id"] for b in similar}
    assert web.get("/assistant").status_code == 200
    # The book page names its book for similar.js, which asks the route above after the page loads.
    page = web.get("/books/dracula").text
    assert '<section id="similar-books" data-book="dracula"' in page
    assert "/static/similar.js" in page
    script = web.get("/static/similar.js")
    assert script.status_code == 200
    assert '"/api/v1/books/" + encodeURIComponent(section.dataset.book) + "/similar' in script.text


def test_folio_ingest_finds_nothing_changed(shop) -> None:  # type: ignore[no-untyped-def]
    result = CliRunner().invoke(folio, ["ingest", *_port_args(shop), "--data-dir", str(shop.data_dir)])
    assert result.exit_code == 0, result.output
    assert "1109 catalog books: 0 (re)indexed, 0 removed, 1109 unchanged" in result.output


def test_folio_eval_prints_the_metrics_through_the_running_assistant(shop) -> None:  # type: ignore[no-untyped-def]
    result = CliRunner().invoke(folio, ["eval", "--fail-under=0.8", *_port_args(shop)])
    assert result.exit_code == 0, result.output
    for metric in ("recall@5", "MRR", "citation precision", "no-answer accuracy"):
        assert metric in result.output
