"""REST clients present bearer tokens: the storefront verifies them before acting for anyone."""

import httpx
import pytest

from folio_testing.issuer import FORGED_KINDS, TestIssuer, forged_tokens


@pytest.mark.parametrize("kind", FORGED_KINDS)
async def test_forged_tokens_get_401_in_the_error_shape(
    client: httpx.AsyncClient, issuer: TestIssuer, kind: str
) -> None:
    answer = await client.get(
        "/api/v1/cart", headers={"Authorization": f"Bearer {forged_tokens(issuer)[kind]}"}
    )
    assert answer.status_code == 401
    assert answer.json()["error"]["code"] == "unauthenticated"


@pytest.mark.parametrize("header", ["Basic YWxpY2U6c2VjcmV0", "Bearer", "Bearer    ", "token-without-scheme"])
async def test_malformed_authorization_headers_get_401(client: httpx.AsyncClient, header: str) -> None:
    answer = await client.get("/api/v1/orders", headers={"Authorization": header})
    assert answer.status_code == 401


async def test_a_service_accounts_token_is_not_a_shopper(
    client: httpx.AsyncClient, issuer: TestIssuer
) -> None:
    token = issuer.service_token("folio-orders")
    answer = await client.get("/api/v1/cart", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 401
    assert "not a shopper" in answer.json()["error"]["message"]


async def test_catalog_reads_stay_public(client: httpx.AsyncClient) -> None:
    assert (await client.get("/api/v1/books/moby-dick")).status_code == 200


async def test_the_admin_page_sends_guests_to_sign_in(client: httpx.AsyncClient) -> None:
    answer = await client.get("/admin", follow_redirects=False)
    assert (answer.status_code, answer.headers["location"]) == (303, "/signin?next=/admin")
