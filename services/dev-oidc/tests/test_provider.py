"""The development OpenID provider: the OIDC behaviour the shop relies on, and its refusals."""

import base64
import hashlib
import html
import json
import re
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from pydantic import ValidationError

from folio_dev_oidc.app import create_app
from folio_dev_oidc.provider import load_users
from folio_dev_oidc.settings import Settings
from folio_platform.auth import ServiceTokens, TokenVerifier
from folio_platform.errors import Unauthenticated

ISSUER = "http://dev-oidc.test"
CALLBACK = "http://shop.test/signin/callback"
FRONTCHANNEL = "http://shop.test/signout/frontchannel"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    users, clients = tmp_path / "users.json", tmp_path / "clients.json"
    users.write_text(json.dumps({"alice": {"password": "right-password", "roles": ["customer"]}}))
    clients.write_text(
        json.dumps(
            {
                "folio-storefront": {
                    "secret": "storefront-secret",
                    "redirect_uris": [CALLBACK],
                    "frontchannel_logout_uri": FRONTCHANNEL,
                },
                "folio-orders": {"secret": "orders-secret", "redirect_uris": []},
            }
        )
    )
    return Settings(users_file=users, clients_file=clients, issuer_url=ISSUER)


@pytest.fixture
async def provider(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(settings))
    async with httpx.AsyncClient(transport=transport, base_url=ISSUER) as client:
        yield client


def _pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


async def _code(
    provider: httpx.AsyncClient, challenge: str, password: str = "right-password"
) -> httpx.Response:
    return await provider.post(
        "/authorize",
        data={
            "client_id": "folio-storefront",
            "redirect_uri": CALLBACK,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            "state": "st-1",
            "nonce": "n-1",
            "username": "alice",
            "password": password,
        },
    )


async def _exchange(provider: httpx.AsyncClient, code: str, verifier: str) -> httpx.Response:
    return await provider.post(
        "/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": CALLBACK,
            "code_verifier": verifier,
        },
        auth=("folio-storefront", "storefront-secret"),
    )


async def test_code_flow_with_pkce_gives_tokens_the_services_accept(provider: httpx.AsyncClient) -> None:
    verifier, challenge = _pkce()
    back = await _code(provider, challenge)
    assert back.status_code == 303
    query = parse_qs(urlsplit(back.headers["location"]).query)
    assert query["state"] == ["st-1"]
    tokens = await _exchange(provider, query["code"][0], verifier)
    assert tokens.status_code == 200, tokens.text
    checker = TokenVerifier(issuer=ISSUER, audience="folio", http=provider)
    identity = await checker.verify(tokens.json()["access_token"])
    assert (identity.username, identity.roles, identity.service) == ("alice", {"customer"}, None)
    # A code is used once.
    assert (await _exchange(provider, query["code"][0], verifier)).json()["error"] == "invalid_grant"


async def test_a_wrong_verifier_or_password_gets_nothing(provider: httpx.AsyncClient) -> None:
    verifier, challenge = _pkce()
    assert (await _code(provider, challenge, password="wrong")).status_code == 401
    code = parse_qs(urlsplit((await _code(provider, challenge)).headers["location"]).query)["code"][0]
    refused = await _exchange(provider, code, verifier + "x")
    assert (refused.status_code, refused.json()["error"]) == (400, "invalid_grant")


async def test_authorize_requires_pkce_and_a_registered_redirect(provider: httpx.AsyncClient) -> None:
    base = {"client_id": "folio-storefront", "response_type": "code"}
    no_pkce = await provider.get("/authorize", params=base | {"redirect_uri": CALLBACK})
    assert "PKCE is required" in no_pkce.json()["error_description"]
    elsewhere = await provider.get(
        "/authorize",
        params=base
        | {"redirect_uri": "https://evil.test/cb", "code_challenge": "x", "code_challenge_method": "S256"},
    )
    assert elsewhere.status_code == 400


async def test_refresh_tokens_rotate(provider: httpx.AsyncClient) -> None:
    verifier, challenge = _pkce()
    code = parse_qs(urlsplit((await _code(provider, challenge)).headers["location"]).query)["code"][0]
    refresh = (await _exchange(provider, code, verifier)).json()["refresh_token"]
    auth = ("folio-storefront", "storefront-secret")
    renewed = await provider.post(
        "/token", data={"grant_type": "refresh_token", "refresh_token": refresh}, auth=auth
    )
    assert renewed.status_code == 200
    reused = await provider.post(
        "/token", data={"grant_type": "refresh_token", "refresh_token": refresh}, auth=auth
    )
    assert reused.json()["error"] == "invalid_grant"


async def _signed_in(provider: httpx.AsyncClient) -> dict[str, str]:
    verifier, challenge = _pkce()
    code = parse_qs(urlsplit((await _code(provider, challenge)).headers["location"]).query)["code"][0]
    tokens: dict[str, str] = (await _exchange(provider, code, verifier)).json()
    return tokens


def _claims(token: str) -> dict[str, object]:
    payload = token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))


async def _refresh(provider: httpx.AsyncClient, refresh_token: str) -> httpx.Response:
    return await provider.post(
        "/token",
        data={"grant_type": "refresh_token", "refresh_token": refresh_token},
        auth=("folio-storefront", "storefront-secret"),
    )


async def test_tokens_name_the_sign_in_session(provider: httpx.AsyncClient) -> None:
    tokens = await _signed_in(provider)
    sid = _claims(tokens["id_token"])["sid"]

    assert sid
    assert _claims(tokens["access_token"])["sid"] == sid
    assert provider.cookies["dev_oidc_session"] == sid
    renewed = (await _refresh(provider, tokens["refresh_token"])).json()
    assert _claims(renewed["id_token"])["sid"] == sid
    discovery = (await provider.get("/.well-known/openid-configuration")).json()
    assert discovery["frontchannel_logout_session_supported"] is True


async def test_logout_with_an_id_token_hint_ends_the_session_and_returns_to_the_shop(
    provider: httpx.AsyncClient,
) -> None:
    tokens = await _signed_in(provider)

    back = await provider.get(
        "/logout",
        params={
            "id_token_hint": tokens["id_token"],
            "client_id": "folio-storefront",
            "post_logout_redirect_uri": "http://shop.test/",
        },
    )

    # The shop asked, so it has ended its own session: no frame for it, straight back.
    assert back.status_code == 303
    assert back.headers["location"] == "http://shop.test/"
    refused = await _refresh(provider, tokens["refresh_token"])
    assert (refused.status_code, refused.json()["error"]) == (400, "invalid_grant")


async def test_logout_elsewhere_frames_the_shops_front_channel_logout(provider: httpx.AsyncClient) -> None:
    tokens = await _signed_in(provider)
    sid = str(_claims(tokens["id_token"])["sid"])

    # The person signs out at the provider itself (its cookie names the session).
    page = await provider.get("/logout")

    assert page.status_code == 200
    frames = re.findall(r'<iframe class="frontchannel" src="([^"]+)"', page.text)
    assert len(frames) == 1
    frame = urlsplit(html.unescape(frames[0]))
    assert f"{frame.scheme}://{frame.netloc}{frame.path}" == FRONTCHANNEL
    assert parse_qs(frame.query) == {"iss": [ISSUER], "sid": [sid]}
    assert (await _refresh(provider, tokens["refresh_token"])).status_code == 400


async def test_logout_refuses_a_forged_hint_and_foreign_redirects(provider: httpx.AsyncClient) -> None:
    forged = await provider.get("/logout", params={"id_token_hint": "not.a.token"})
    assert forged.status_code == 400
    away = await provider.get("/logout", params={"post_logout_redirect_uri": "https://evil.test/"})
    assert away.status_code == 200
    assert "evil.test" not in away.text


async def test_service_accounts_and_key_rotation(provider: httpx.AsyncClient) -> None:
    tokens = ServiceTokens(
        issuer=ISSUER, client_id="folio-orders", client_secret="orders-secret", http=provider
    )
    checker = TokenVerifier(issuer=ISSUER, audience="folio", refresh_seconds=0.0, http=provider)
    assert (await checker.verify(await tokens.token())).service == "folio-orders"
    # Rotation: the provider signs with a new key; the verifier fetches it on first sight.
    app = provider._transport.app  # type: ignore[attr-defined]
    app.state.provider.rotate_keys()
    fresh = ServiceTokens(
        issuer=ISSUER, client_id="folio-orders", client_secret="orders-secret", http=provider
    )
    assert (await checker.verify(await fresh.token())).service == "folio-orders"
    wrong = ServiceTokens(issuer=ISSUER, client_id="folio-orders", client_secret="nope", http=provider)
    with pytest.raises(Unauthenticated):
        await wrong.token()


def test_it_refuses_production_and_public_interfaces(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ValidationError, match="loopback only"):
        Settings(users_file=settings.users_file, clients_file=settings.clients_file, host="0.0.0.0")
    monkeypatch.setenv("FOLIO_ENVIRONMENT", "production")
    with pytest.raises(ValidationError, match="must not run in production"):
        Settings(users_file=settings.users_file, clients_file=settings.clients_file)


@pytest.mark.parametrize(
    "user",
    [
        {"service-account-folio-storefront": {"password": "x", "roles": ["customer"]}},
        {"mallory": {"password": "x", "roles": ["customer", "folio-service"]}},
    ],
)
def test_no_person_may_pass_for_a_service_account(tmp_path: Path, user: dict[str, object]) -> None:
    users = tmp_path / "users.json"
    users.write_text(json.dumps(user))
    with pytest.raises(ValueError, match="service accounts only"):
        load_users(users)
