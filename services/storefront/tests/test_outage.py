"""The catalog down: the storefront stays alive, says which dependency failed, and says it fast."""

import asyncio
import time

import httpx
import pytest

from .conftest import BACKEND_TIMEOUT_SECONDS

API_PATHS = [
    "/api/v1/books",
    "/api/v1/books/moby-dick",
    "/api/v1/search?q=whale",
    "/api/v1/genres",
    "/api/v1/authors",
    "/api/v1/authors/herman-melville",
]
PAGE_PATHS = ["/", "/books/moby-dick", "/search?q=whale", "/genres/adventure", "/authors", "/authors/homer"]
# A refused connection answers at once: well inside even one backend call's deadline (and the
# request's budget), which an answer that waited for them would have used up.
FAST = BACKEND_TIMEOUT_SECONDS / 2


def _dependency_error(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.json() == {
        "error": {
            "code": "dependency_unavailable",
            "message": response.json()["error"]["message"],
            "dependency": "catalog",
        }
    }
    assert "catalog" in response.json()["error"]["message"]


@pytest.mark.parametrize("path", API_PATHS)
async def test_api_answers_503_naming_the_catalog_fast(client_without_catalog, path: str) -> None:
    started = time.monotonic()
    response = await client_without_catalog.get(path)

    assert time.monotonic() - started < FAST
    _dependency_error(response)


@pytest.mark.parametrize("path", PAGE_PATHS)
async def test_pages_show_a_friendly_503_naming_the_catalog(client_without_catalog, path: str) -> None:
    started = time.monotonic()
    response = await client_without_catalog.get(path)

    assert time.monotonic() - started < FAST
    assert response.status_code == 503
    assert response.headers["content-type"].startswith("text/html")
    assert "The catalog service is not answering" in response.text
    assert 'href="/"' in response.text
    assert "Traceback" not in response.text


async def test_bad_input_is_still_400_while_the_catalog_is_down(client_without_catalog) -> None:
    response = await client_without_catalog.get("/api/v1/books", params={"page_size": 0})

    assert response.status_code == 400
    assert response.json()["error"]["field"] == "page_size"


async def test_readiness_fails_but_liveness_holds(client_without_catalog) -> None:
    ready = await client_without_catalog.get("/readyz")
    alive = await client_without_catalog.get("/healthz")

    assert ready.status_code == 503
    assert ready.json()["status"] == "not ready"
    assert ready.json()["checks"]["catalog"] == "unavailable"
    assert alive.status_code == 200
    assert alive.json()["status"] == "ok"


async def test_ready_while_the_catalog_serves(client) -> None:
    response = await client.get("/readyz")

    # Cart and orders are not running in this test: browsing is ready, checkout degraded.
    assert response.status_code == 200
    assert response.json() == {
        "status": "degraded",
        "checks": {
            "catalog": "serving",
            "cart": "unavailable",
            "orders": "unavailable",
            "assistant": "not configured",
        },
    }


async def test_catalog_stopping_and_coming_back(client, catalog_server) -> None:
    assert (await client.get("/api/v1/books/moby-dick")).status_code == 200

    await catalog_server.stop()
    started = time.monotonic()
    down = await client.get("/api/v1/books/moby-dick")
    assert time.monotonic() - started < FAST
    _dependency_error(down)
    assert (await client.get("/readyz")).status_code == 503
    assert (await client.get("/healthz")).status_code == 200

    await catalog_server.start()
    # The channel reconnects on its own (backoff capped at 2 s): no storefront restart needed.
    deadline = time.monotonic() + 15
    while (await client.get("/readyz")).status_code != 200:
        assert time.monotonic() < deadline, "storefront did not reconnect to the restarted catalog"
        await asyncio.sleep(0.1)
    response = await client.get("/api/v1/books/moby-dick")
    assert response.status_code == 200
    assert response.json()["id"] == "moby-dick"
