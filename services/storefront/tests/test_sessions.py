"""Server-side sessions through the storefront: the cookie is an id, tokens refresh once per
session, an identity-provider outage keeps people signed in, sign-out and front-channel logout
end the session on the server.

`/admin` shows who a request acts for: a guest is sent to sign in (303), a signed-in customer
is refused the admin role (403), and a request that needs a fresh token the provider cannot give
gets 503 naming the identity provider.
"""

import asyncio
import secrets
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi import FastAPI

from folio_platform.auth import AuthSettings
from folio_platform.discovery import StaticDiscovery
from folio_storefront.app import create_app
from folio_storefront.sessions import COOKIE, Sessions
from folio_storefront.settings import Settings
from folio_testing.issuer import TestIssuer
from folio_testing.plugin import free_port

from .conftest import TEST_SESSION_SECRET, running

SIGNED_IN, GUEST = 403, 303


def _sessions(client: httpx.AsyncClient) -> Sessions:
    app: FastAPI = client._transport.app  # type: ignore[attr-defined]
    sessions: Sessions = app.state.sessions
    return sessions


async def _signed_in(
    client: httpx.AsyncClient, issuer: TestIssuer, *, expires_in: float, sid: str = "sid-1"
) -> str:
    """A browser session of alice as the sign-in callback leaves it, her access token expiring in
    `expires_in` seconds; the cookie is set on `client`. Returns the session id."""
    session_id = secrets.token_urlsafe(32)
    user = {
        "sub": "alice-id",
        "name": "alice",
        "roles": ["customer"],
        "access_token": issuer.token("alice-id", username="alice", expires_in=max(int(expires_in), 1)),
        "refresh_token": issuer.grant_refresh("alice-id"),
        "id_token": "alice-id-token",
        "expires_at": time.time() + expires_in,
    }
    sessions = _sessions(client)
    await sessions.store.save(session_id, {"user": user}, provider_session=f"{issuer.url} {sid}")
    client.cookies.set(COOKIE, sessions.sign(session_id), domain="storefront.test")
    return session_id


async def _stored_user(client: httpx.AsyncClient, session_id: str) -> dict[str, Any] | None:
    stored = await _sessions(client).store.load(session_id)
    return None if stored is None else stored.data.get("user")


@pytest.fixture(autouse=True)
def _provider_answers(issuer: TestIssuer) -> Any:
    """The session-scoped issuer is shared: each test starts with it answering, and leaves it so."""
    issuer.token_endpoint_status = None
    yield
    issuer.token_endpoint_status = None


async def test_the_cookie_carries_only_a_signed_random_id(client: httpx.AsyncClient) -> None:
    response = await client.get("/admin")  # a guest: the storefront mints a guest id
    cookie = response.headers["set-cookie"]
    value = client.cookies[COOKIE]
    session_id = _sessions(client).unsign(value)

    assert session_id is not None
    assert len(session_id) >= 40
    assert "anon-" not in value
    for attribute in ("httponly", "samesite=lax", "path=/"):
        assert attribute in cookie.lower()
    stored = await _sessions(client).store.load(session_id)
    assert stored is not None
    assert stored.data["shopper"].startswith("anon-")


async def test_a_forged_or_unknown_cookie_is_no_session(client: httpx.AsyncClient) -> None:
    sessions = _sessions(client)
    for value in (sessions.sign(secrets.token_urlsafe(32)), "forged." + secrets.token_urlsafe(20)):
        client.cookies.set(COOKIE, value, domain="storefront.test")
        response = await client.get("/admin")
        assert response.status_code == GUEST
        assert client.cookies[COOKIE] != value  # a new session, with a new id


async def test_parallel_requests_near_expiry_share_one_refresh(
    client: httpx.AsyncClient, issuer: TestIssuer
) -> None:
    session_id = await _signed_in(client, issuer, expires_in=10)  # inside the refresh margin
    before = issuer.refresh_requests

    responses = await asyncio.gather(*(client.get("/admin") for _ in range(8)))

    assert [r.status_code for r in responses] == [SIGNED_IN] * 8
    assert issuer.refresh_requests - before == 1
    user = await _stored_user(client, session_id)
    assert user is not None
    assert user["expires_at"] > time.time() + 200
    assert user["id_token"] == "alice-id-token"  # kept for sign-out across refreshes
    assert (await client.get("/admin")).status_code == SIGNED_IN
    assert issuer.refresh_requests - before == 1


async def test_a_provider_outage_keeps_the_person_signed_in_while_the_token_lasts(
    client: httpx.AsyncClient, issuer: TestIssuer
) -> None:
    session_id = await _signed_in(client, issuer, expires_in=10)
    issuer.token_endpoint_status = 503

    assert (await client.get("/admin")).status_code == SIGNED_IN
    assert "alice" in (await client.get("/")).text
    assert await _stored_user(client, session_id) is not None


async def test_a_provider_outage_after_expiry_is_503_only_where_a_token_is_needed(
    client: httpx.AsyncClient, issuer: TestIssuer
) -> None:
    session_id = await _signed_in(client, issuer, expires_in=-5)
    issuer.token_endpoint_status = 503

    needs_token = await client.get("/api/v1/cart")
    browsing = await client.get("/books/moby-dick")

    assert needs_token.status_code == 503
    assert needs_token.json()["error"]["dependency"] == "identity provider"
    assert browsing.status_code == 200
    assert "alice" in browsing.text  # still signed in
    assert await _stored_user(client, session_id) is not None

    issuer.token_endpoint_status = None
    assert (await client.get("/admin")).status_code == SIGNED_IN


async def test_a_refused_refresh_signs_the_person_out(client: httpx.AsyncClient, issuer: TestIssuer) -> None:
    session_id = await _signed_in(client, issuer, expires_in=-5)
    issuer.refresh_tokens.clear()  # the provider revoked it

    assert (await client.get("/admin")).status_code == GUEST
    assert await _stored_user(client, session_id) is None


async def test_sign_out_ends_the_session_here_and_at_the_provider(
    client: httpx.AsyncClient, issuer: TestIssuer
) -> None:
    session_id = await _signed_in(client, issuer, expires_in=300)

    response = await client.post("/signout")

    assert response.status_code == 303
    location = urlsplit(response.headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == f"{issuer.url}/logout"
    query = parse_qs(location.query)
    assert query["id_token_hint"] == ["alice-id-token"]
    assert query["client_id"] == ["folio-storefront"]
    assert await _sessions(client).store.load(session_id) is None
    assert "max-age=0" in response.headers["set-cookie"].lower()


async def test_front_channel_logout_ends_the_provider_sessions_sessions(
    client: httpx.AsyncClient, issuer: TestIssuer
) -> None:
    laptop = await _signed_in(client, issuer, expires_in=300, sid="sid-7")
    phone = await _signed_in(client, issuer, expires_in=300, sid="sid-7")
    other = await _signed_in(client, issuer, expires_in=300, sid="sid-8")

    response = await client.get("/signout/frontchannel", params={"iss": issuer.url, "sid": "sid-7"})

    assert response.status_code == 200
    assert await _sessions(client).store.load(laptop) is None
    assert await _sessions(client).store.load(phone) is None
    assert await _sessions(client).store.load(other) is not None
    # The provider frames this page: its origin may, nobody else may.
    assert response.headers["content-security-policy"].endswith(f"frame-ancestors {issuer.url}")
    assert "x-frame-options" not in response.headers
    assert response.headers["cache-control"] == "no-store"


@pytest.mark.parametrize(
    ("params", "field"),
    [({"iss": "https://evil.example", "sid": "sid-1"}, "iss"), ({"iss": "x"}, "sid"), ({"sid": "s"}, "iss")],
)
async def test_front_channel_logout_needs_this_shops_issuer_and_a_sid(
    client: httpx.AsyncClient, params: dict[str, str], field: str
) -> None:
    response = await client.get("/signout/frontchannel", params=params)

    assert response.status_code == 400
    assert field in response.text


@pytest.mark.redis
async def test_a_session_store_outage_leaves_browsing_up_and_names_the_store(
    catalog_server: Any, issuer: TestIssuer, tmp_path: Any
) -> None:
    addresses = {"catalog": catalog_server.address} | {
        s: f"127.0.0.1:{free_port()}" for s in ("cart", "orders")
    }
    settings = Settings(
        service_addresses=addresses,
        session_secret=TEST_SESSION_SECRET,
        data_dir=tmp_path,
        redis_url=f"redis://127.0.0.1:{free_port()}/0",
    )
    auth = AuthSettings(
        issuer_url=issuer.url, client_id="folio-storefront", client_secret=issuer.clients["folio-storefront"]
    )
    async with running(create_app(settings, auth, discovery=StaticDiscovery(addresses))) as client:
        client.cookies.set(
            COOKIE, _sessions(client).sign(secrets.token_urlsafe(32)), domain="storefront.test"
        )
        browsing = await client.get("/books/moby-dick")
        cart = await client.get("/api/v1/cart")

    assert browsing.status_code == 200
    assert cart.status_code == 503
    assert cart.json()["error"]["dependency"] == "session store"
