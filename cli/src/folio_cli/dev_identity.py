"""Identity for the local shop: the development OpenID provider's users, clients and their secrets.

Secrets are made once per data dir (mode 0600) and never committed; `folio up` prints the
seeded users' passwords. In a cluster Keycloak holds all of this (identity/ in the repo).
"""

import asyncio
import json
import secrets
from pathlib import Path

from folio_platform.auth import ServiceTokens

# The seeded people and their realm roles (the same people as the OpenLDAP bootstrap directory).
DEV_USERS = {
    "alice": {"name": "Alice Archer", "roles": ["customer"]},
    "bob": {"name": "Bob Bennet", "roles": ["customer"]},
    "carol": {"name": "Carol Carver", "roles": ["customer", "catalog-admin"]},
}
# Confidential clients with service accounts; the storefront also signs people in (code + PKCE).
CLIENTS = ("folio-storefront", "folio-orders", "folio-assistant")
# Which service runs as which client.
SERVICE_CLIENTS = {"storefront": "folio-storefront", "orders": "folio-orders", "assistant": "folio-assistant"}


def _secrets(data_dir: Path) -> dict[str, dict[str, str]]:
    path = data_dir / "dev-identity-secrets.json"
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(
            json.dumps(
                {
                    "passwords": {name: secrets.token_urlsafe(9) for name in DEV_USERS},
                    "clients": {client: secrets.token_urlsafe(24) for client in CLIENTS},
                }
            )
        )
    stored: dict[str, dict[str, str]] = json.loads(path.read_text())
    return stored


def client_secret(data_dir: Path, client_id: str) -> str:
    return _secrets(data_dir)["clients"][client_id]


def passwords(data_dir: Path) -> dict[str, str]:
    """The seeded users' passwords for this data dir (printed by `folio up`)."""
    return dict(_secrets(data_dir)["passwords"])


def write_provider_files(data_dir: Path, storefront_url: str) -> tuple[Path, Path]:
    """The users and clients files the development provider reads (rewritten on every start)."""
    stored = _secrets(data_dir)
    users = {
        name: {**user, "email": f"{name}@folio.example", "password": stored["passwords"][name]}
        for name, user in DEV_USERS.items()
    }
    clients = {
        client: {
            "secret": stored["clients"][client],
            "redirect_uris": [f"{storefront_url}/signin/callback"] if client == "folio-storefront" else [],
        }
        for client in CLIENTS
    }
    paths = (data_dir / "dev-oidc-users.json", data_dir / "dev-oidc-clients.json")
    for path, content in zip(paths, (users, clients), strict=True):
        path.touch(mode=0o600)
        path.write_text(json.dumps(content, indent=2))
    return paths


def service_token(data_dir: Path, issuer_url: str, client_id: str) -> str:
    """An access token for one of the local services' accounts (operator tools act as them)."""

    async def fetch() -> str:
        tokens = ServiceTokens(
            issuer=issuer_url, client_id=client_id, client_secret=client_secret(data_dir, client_id)
        )
        try:
            return await tokens.token()
        finally:
            await tokens.close()

    return asyncio.run(fetch())
