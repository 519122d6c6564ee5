"""Identity for the local shop: the development OpenID provider's users, clients and their secrets.

Secrets are made once per data dir (mode 0600) and never committed; `folio up` prints the
seeded users' passwords. In a cluster Keycloak holds all of this (identity/ in the repo).
"""

import asyncio
import json
import secrets
from pathlib import Path

from folio_identity.directory import DirectoryUser, seeded_users
from folio_platform.auth import ServiceTokens

# Confidential clients with service accounts; the storefront also signs people in (code + PKCE).
CLIENTS = ("folio-storefront", "folio-orders", "folio-assistant")
# Which service runs as which client.
SERVICE_CLIENTS = {"storefront": "folio-storefront", "orders": "folio-orders", "assistant": "folio-assistant"}


def _secrets(data_dir: Path) -> dict[str, dict[str, str]]:
    """The data dir's passwords and client secrets; a person or client added to the seed since the
    file was made gets one too (the ones already handed out stay)."""
    path = data_dir / "dev-identity-secrets.json"
    stored: dict[str, dict[str, str]] = (
        json.loads(path.read_text()) if path.exists() else {"passwords": {}, "clients": {}}
    )
    missing_people = [u.username for u in seeded_users() if u.username not in stored["passwords"]]
    missing_clients = [c for c in CLIENTS if c not in stored["clients"]]
    if missing_people or missing_clients:
        stored["passwords"] |= {name: secrets.token_urlsafe(9) for name in missing_people}
        stored["clients"] |= {client: secrets.token_urlsafe(24) for client in missing_clients}
        data_dir.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(json.dumps(stored))
    return stored


def client_secret(data_dir: Path, client_id: str) -> str:
    return _secrets(data_dir)["clients"][client_id]


def passwords(data_dir: Path) -> dict[str, str]:
    """The seeded users' passwords for this data dir (printed by `folio up`)."""
    return dict(_secrets(data_dir)["passwords"])


def people() -> list[DirectoryUser]:
    """The seeded people (from the bootstrap directory), for `folio up` to list."""
    return seeded_users()


def write_provider_files(data_dir: Path, storefront_url: str) -> tuple[Path, Path]:
    """The users and clients files the development provider reads (rewritten on every start)."""
    stored = _secrets(data_dir)
    # The same people as the OpenLDAP bootstrap directory (identity/openldap/bootstrap.ldif).
    users = {
        user.username: {
            "name": user.name,
            "email": user.email,
            "roles": sorted(user.roles),
            "password": stored["passwords"][user.username],
        }
        for user in seeded_users()
    }
    clients: dict[str, dict[str, object]] = {
        client: {"secret": stored["clients"][client], "redirect_uris": []} for client in CLIENTS
    }
    clients["folio-storefront"] |= {
        "redirect_uris": [f"{storefront_url}/signin/callback"],
        "frontchannel_logout_uri": f"{storefront_url}/signout/frontchannel",
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
