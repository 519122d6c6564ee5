"""Who the shopper is, what token the storefront presents for them, and which requests may change
their cart or orders.

Three kinds of caller, one shape (`Shopper`):
- a REST client with `Authorization: Bearer <access token>`: verified here (401 if it does not
  verify), then forwarded to the services, which verify it again;
- a person signed in through the browser (OIDC, see signin.py): their access token lives in the
  signed, HttpOnly session cookie and is refreshed when it nears expiry;
- a guest: an anonymous id (`anon-...`) in the session cookie; the storefront acts for guests
  with its own service account's token, and the services let it act for `anon-` ids only.
"""

import logging
import time
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
from authlib.integrations.base_client.errors import OAuthError
from fastapi import Request

from folio_platform.auth import GUEST_PREFIX, Identity, ServiceTokens, TokenVerifier
from folio_platform.errors import Unauthenticated
from folio_storefront.errors import Forbidden, NotSignedIn

log = logging.getLogger(__name__)
# Refresh a signed-in person's access token this long before it expires.
REFRESH_MARGIN_SECONDS = 30


@dataclass(frozen=True)
class Shopper:
    """The shopper a request acts for, and the bearer token that proves it to the services."""

    id: str
    token: str
    name: str = ""
    roles: frozenset[str] = frozenset()

    @property
    def signed_in(self) -> bool:
        return not self.id.startswith(GUEST_PREFIX)


@dataclass
class SignIn:
    """What the lifespan builds for identity: token checks, our own token, the OIDC client."""

    verifier: TokenVerifier
    service_tokens: ServiceTokens
    oauth_client: Any  # authlib's StarletteOAuth2App (untyped)


def _guest_id(request: Request) -> str:
    shopper = request.session.get("shopper")
    if not isinstance(shopper, str) or not shopper.startswith(GUEST_PREFIX):
        shopper = f"{GUEST_PREFIX}{uuid.uuid4().hex}"
        request.session["shopper"] = shopper
    return shopper


def remember_user(request: Request, identity: Identity, tokens: dict[str, Any]) -> None:
    """Keep a signed-in person in the session cookie (the tokens are signed with it, never shown)."""
    request.session["user"] = {
        "sub": identity.subject,
        "name": identity.username,
        "roles": sorted(identity.roles),
        "access_token": tokens["access_token"],
        "refresh_token": tokens.get("refresh_token", ""),
        "expires_at": time.time() + float(tokens.get("expires_in", 300)),
    }


async def _signed_in_user(request: Request, sign_in: SignIn) -> Shopper | None:
    user = request.session.get("user")
    if not isinstance(user, dict):
        return None
    if time.time() > float(user.get("expires_at", 0)) - REFRESH_MARGIN_SECONDS:
        try:
            tokens = await sign_in.oauth_client.fetch_access_token(
                grant_type="refresh_token", refresh_token=user.get("refresh_token", "")
            )
            identity = await sign_in.verifier.verify(tokens["access_token"])
        except (OAuthError, httpx.HTTPError, Unauthenticated, KeyError) as error:
            # Refused or unreachable: the person signs in again rather than the request failing.
            log.info("session expired, signing out", extra={"error": str(error)})
            request.session.pop("user", None)
            return None
        remember_user(request, identity, tokens)
        user = request.session["user"]
    return Shopper(
        id=str(user["sub"]),
        token=str(user["access_token"]),
        name=str(user["name"]),
        roles=frozenset(user["roles"]),
    )


async def current_shopper(request: Request) -> Shopper:
    """The shopper this request acts for (see the module docstring for the three kinds)."""
    sign_in: SignIn = request.app.state.sign_in
    authorization = request.headers.get("authorization")
    if authorization is not None:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise NotSignedIn("the Authorization header must be 'Bearer <access token>'")
        try:
            identity = await sign_in.verifier.verify(token.strip())
        except Unauthenticated as error:
            raise NotSignedIn(error.message) from None
        if identity.service is not None:
            raise NotSignedIn("a service account is not a shopper")
        return Shopper(identity.subject, token.strip(), identity.username, identity.roles)
    person = await _signed_in_user(request, sign_in)
    if person is not None:
        return person
    return Shopper(_guest_id(request), await sign_in.service_tokens.token())


async def same_origin(request: Request) -> None:
    """Refuse state-changing requests sent by another site's page (CSRF).

    SameSite=Lax already keeps the cookie off cross-site POSTs in current browsers; the
    Origin check also covers older ones. Non-browser clients send no Origin and pass.
    """
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    origin = request.headers.get("origin")
    if origin and urlsplit(origin).netloc != request.headers.get("host"):
        raise Forbidden("cross-site request refused: its Origin is not this shop")
