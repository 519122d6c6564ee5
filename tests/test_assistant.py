"""End to end: the assistant in the running shop, through the storefront and the folio CLI."""

import json
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from folio_cli.main import app as folio
from folio_testing.model_server import FakeModelServer

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
    result = CliRunner().invoke(
        folio, ["eval", "--fail-under=0.9", "--precision-under=0.9", *_port_args(shop)]
    )
    assert result.exit_code == 0, result.output
    for metric in ("recall@5", "MRR", "citation precision", "no-answer accuracy"):
        assert metric in result.output


def _ask(web: httpx.Client, question: str) -> tuple[str, dict[str, Any]]:
    """The answer's text and its `done` event, through the storefront."""
    with web.stream("GET", "/api/v1/assistant/ask", params={"q": question}) as response:
        assert response.status_code == 200
        body = "".join(response.iter_text())
    text, done = "", {}
    for block in body.strip().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines())
        data = json.loads(fields["data"])
        if fields["event"] == "chunk":
            text += data["text"]
        elif fields["event"] == "done":
            done = data
    return text, done


def _until(condition: Callable[[], bool], seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"not within {seconds} s"
        time.sleep(0.2)


def _took(call: Callable[[], object]) -> float:
    started = time.monotonic()
    call()
    return time.monotonic() - started


def _flags(shop, *args: str) -> None:  # type: ignore[no-untyped-def]
    result = CliRunner().invoke(folio, ["flags", *args, "--config-dir", str(shop.stack.config_dir)])
    assert result.exit_code == 0, result.output


def test_the_language_model_and_its_drills_change_live(shop, web: httpx.Client) -> None:  # type: ignore[no-untyped-def]
    """The config center's `llm` section points the running assistant at a model server, and the
    `assistant.*` drill flags act on its answers, each within seconds and without a restart."""
    question = "What did Bram Stoker write?"
    document = shop.stack.config_dir / "assistant.yaml"
    with FakeModelServer(reply="Bram Stoker wrote Dracula [dracula].") as model:
        try:
            document.write_text(f"llm:\n  base_url: {model.url}\n  model: live-model\n")
            _until(lambda: _ask(web, question)[1]["mode"] == "llm")
            text, done = _ask(web, question)
            assert (text.strip(), done["model"]) == ("Bram Stoker wrote Dracula [dracula].", "live-model")
            assert [c["id"] for c in done["citations"]] == ["dracula"]

            _flags(shop, "set", "assistant.llm_rate_limit", "1")
            _until(lambda: _ask(web, question)[1]["mode"] == "extractive")
            assert "failed (LlmRateLimited)" in _ask(web, question)[1]["note"]

            _flags(shop, "clear")
            _flags(shop, "set", "assistant.llm_wrong_answers", "true")
            _until(lambda: "The Lost Chronicle" in _ask(web, question)[0])
            _, done = _ask(web, question)
            assert done["mode"] == "llm"
            assert "the-lost-chronicle" not in {c["id"] for c in done["citations"]}
            assert {c["id"] for c in done["citations"]} <= {
                "dracula",
                "jewel-of-seven-stars",
                "lair-of-the-white-worm",
            }

            _flags(shop, "clear")
            _flags(shop, "set", "assistant.llm_slow_ms", "1500")
            _until(lambda: _took(lambda: _ask(web, question)) >= 1.5)
        finally:
            _flags(shop, "clear")
            document.unlink(missing_ok=True)
    _until(lambda: _ask(web, question)[1]["mode"] == "extractive")
