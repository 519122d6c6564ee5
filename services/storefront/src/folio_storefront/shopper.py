"""Who the shopper is, what token the storefront presents for them, and which requests may change
their cart or orders.

Three kinds of caller, one shape (`Shopper`):
- a REST client with `Authorization: Bearer <access token>`: verified here (401 if it does not
  verify), then forwarded to the services, which verify it again;
- a person signed in through the browser (OIDC, see signin.py): their tokens live in the
  server-side session (sessions.py; the cookie holds only its id) and are refreshed when the
  access token nears expiry, once per session;
- a guest: an anonymous id (`anon-...`) in the session; the storefront acts for guests
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
from authlib.integrations.httpx_client._compat import httpx2 as authlib_httpx
from fastapi import Request

from folio_platform.auth import GUEST_PREFIX, Identity, ServiceTokens, TokenVerifier
from folio_platform.errors import Unauthenticated
from folio_storefront.errors import DependencyUnavailable, Forbidden, NotSignedIn
from folio_storefront.sessions import session_state, sessions_of

log = logging.getLogger(__name__)
# Refresh a signed-in person's access token this long before it expires.
REFRESH_MARGIN_SECONDS = 30
IDENTITY = "identity provider"
# The provider did not answer (down, 5xx, timeout). Authlib speaks HTTP through httpx2 where that is
# installed, httpx otherwise: its errors are those of whichever it uses.
PROVIDER_UNREACHABLE = (httpx.HTTPError, authlib_httpx.HTTPError, OSError)
SESSION_STORE = "session store"


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
    issuer: str


def _guest_id(request: Request) -> str:
    shopper = request.session.get("shopper")
    if not isinstance(shopper, str) or not shopper.startswith(GUEST_PREFIX):
        shopper = f"{GUEST_PREFIX}{uuid.uuid4().hex}"
        request.session["shopper"] = shopper
    return shopper


def remember_user(request: Request, identity: Identity, tokens: dict[str, Any]) -> dict[str, Any]:
    """Keep a signed-in person in the server-side session (the cookie holds only its id)."""
    previous = request.session.get("user") or {}
    user = {
        "sub": identity.subject,
        "name": identity.username,
        "roles": sorted(identity.roles),
        "access_token": tokens["access_token"],
        "refresh_token": tokens.get("refresh_token") or previous.get("refresh_token", ""),
        # Kept for sign-out: the provider's end-session endpoint takes it as id_token_hint.
        "id_token": tokens.get("id_token") or previous.get("id_token", ""),
        "expires_at": time.time() + float(tokens.get("expires_in", 300)),
    }
    request.session["user"] = user
    return user


def _fresh(user: dict[str, Any]) -> bool:
    return time.time() < float(user.get("expires_at", 0)) - REFRESH_MARGIN_SECONDS


def _usable(user: dict[str, Any]) -> bool:
    return time.time() < float(user.get("expires_at", 0))


async def _refresh(request: Request, sign_in: SignIn, user: dict[str, Any]) -> dict[str, Any] | None:
    """The person's tokens renewed, once per session however many requests ask at the same time.

    The refresh token rotates on every use, so two refreshes of one session would sign the
    person out: requests queue on the session's lock, and whoever comes second finds the tokens
    the first one stored. A refusal by the provider ends the sign-in (None); a provider that
    does not answer keeps it, with the current token while it lasts, else 503 (identity).
    """
    state = session_state(request)
    sessions = sessions_of(request)
    if state.id is None:
        return None
    async with sessions.exclusive(state.id) as held:
        stored = await sessions.store.load(state.id)
        current = stored.data.get("user") if stored is not None else None
        if not isinstance(current, dict):
            request.session.pop("user", None)
            return None
        if _fresh(current):
            request.session["user"] = current
            state.mark_saved({"user": current})
            return current
        failure = "another request holds the session's refresh" if not held else ""
        if held:
            try:
                tokens = await sign_in.oauth_client.fetch_access_token(
                    grant_type="refresh_token", refresh_token=current.get("refresh_token", "")
                )
                identity = await sign_in.verifier.verify(tokens["access_token"])
            except (OAuthError, Unauthenticated, KeyError) as error:
                # Refused (the provider ended the session, the token was revoked): sign out.
                log.info("session refresh refused, signing out", extra={"error": str(error)})
                request.session.pop("user", None)
                await sessions.store.save(state.id, {}, ["user"])
                return None
            except PROVIDER_UNREACHABLE as error:
                failure = str(error) or type(error).__name__
            else:
                fresh = remember_user(request, identity, tokens)
                await sessions.store.save(state.id, {"user": fresh})
                state.mark_saved({"user": fresh})
                return fresh
    log.warning("identity provider did not refresh the session", extra={"error": failure})
    if _usable(current):
        return current
    raise DependencyUnavailable(IDENTITY, detail=failure)


async def _signed_in_user(request: Request, sign_in: SignIn) -> Shopper | None:
    if session_state(request).unavailable:
        raise DependencyUnavailable(SESSION_STORE)
    user = request.session.get("user")
    if not isinstance(user, dict):
        return None
    if not _fresh(user):
        user = await _refresh(request, sign_in, user)
        if user is None:
            return None
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
