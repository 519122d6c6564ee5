"""Abuse is bounded and answered with a 4xx: oversized bodies, deep JSON, huge pages, long queries."""

from collections.abc import AsyncIterator

import httpx
import pytest

from folio_storefront.settings import Settings

LIMIT = Settings.model_fields["max_body_bytes"].default


async def test_a_declared_oversized_body_is_refused_before_it_is_read(client: httpx.AsyncClient) -> None:
    answer = await client.post(
        "/api/v1/cart/items", content=b"x" * (LIMIT + 1), headers={"content-type": "application/json"}
    )
    assert answer.status_code == 413
    assert answer.json()["error"]["code"] == "too_large"


async def test_a_streamed_oversized_body_is_refused_too(client: httpx.AsyncClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(LIMIT // 1024 + 2):
            yield b"x" * 1024

    answer = await client.post(
        "/api/v1/cart/items", content=chunks(), headers={"content-type": "application/json"}
    )
    assert answer.status_code == 413


async def test_a_body_under_the_limit_is_served(client: httpx.AsyncClient) -> None:
    # A well-formed request reaches validation (and the cart, which is down here: 503 names it).
    answer = await client.post("/api/v1/cart/items", json={"book_id": "moby-dick", "quantity": 1})
    assert answer.status_code in (200, 503)
    assert answer.status_code != 413


@pytest.mark.parametrize(
    ("path", "params", "body"),
    [
        ("/api/v1/cart/items", None, b"[" * 20000 + b"]" * 20000),
        ("/api/v1/books", {"page_size": str(10**9)}, None),
        ("/api/v1/search", {"q": "x" * 5000}, None),
        ("/api/v1/books", {"page_token": "!" * 500}, None),
    ],
)
async def test_pathological_input_gets_a_400_in_the_error_shape(
    client: httpx.AsyncClient, path: str, params: dict[str, str] | None, body: bytes | None
) -> None:
    if body is None:
        answer = await client.get(path, params=params)
    else:
        answer = await client.post(path, content=body, headers={"content-type": "application/json"})
    assert answer.status_code == 400, answer.text[:200]
    assert set(answer.json()) == {"error"}
