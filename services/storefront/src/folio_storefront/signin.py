"""Sign-in and sign-out through the identity provider (OpenID Connect, authorization code + PKCE).

Who may call: anyone. Keycloak in a cluster, the development provider on a laptop: the same
code path. On sign-in the guest's cart moves into the person's cart and the session gets a new id;
sign-out ends it here and at the provider; the provider's front-channel logout ends it too.
"""

import logging
from typing import Annotated
from urllib.parse import urlencode, urlsplit

import grpc
from authlib.integrations.base_client.errors import OAuthError
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from folio_platform.auth import GUEST_PREFIX
from folio_platform.errors import Unauthenticated
from folio_storefront.deps import CartDep
from folio_storefront.errors import BadRequest, DependencyUnavailable, EdgeError
from folio_storefront.headers import origin_of
from folio_storefront.sessions import session_state, sessions_of
from folio_storefront.shopper import (
    IDENTITY,
    PROVIDER_UNREACHABLE,
    Shopper,
    SignIn,
    remember_user,
    same_origin,
)

router = APIRouter(include_in_schema=False)
log = logging.getLogger(__name__)
NextPath = Annotated[str, Query(alias="next", max_length=300)]


def _local(path: str) -> str:
    """Only same-site paths may be returned to after sign-in (no open redirect)."""
    parts = urlsplit(path)
    return path if path.startswith("/") and not path.startswith("//") and not parts.netloc else "/"


def _sign_in(request: Request) -> SignIn:
    sign_in: SignIn = request.app.state.sign_in
    return sign_in


@router.get("/signin")
async def signin(request: Request, next_path: NextPath = "/") -> Response:
    request.session["after_signin"] = _local(next_path)
    callback = f"{request.app.state.public_url}/signin/callback"
    response: Response = await _sign_in(request).oauth_client.authorize_redirect(request, callback)
    return response


@router.get("/signin/callback")
async def signin_callback(request: Request, cart: CartDep) -> Response:
    sign_in = _sign_in(request)
    try:
        tokens = await sign_in.oauth_client.authorize_access_token(request)
        identity = await sign_in.verifier.verify(tokens["access_token"])
    except (OAuthError, Unauthenticated, KeyError) as error:
        raise BadRequest(f"sign-in failed: {error}; please try again") from None
    except PROVIDER_UNREACHABLE as error:
        raise DependencyUnavailable(IDENTITY, detail=str(error)) from None
    guest = request.session.get("shopper")
    remember_user(request, identity, tokens)
    # A new session id for the signed-in person, indexed by the provider's session so that a
    # front-channel logout can end it.
    sid = (tokens.get("userinfo") or {}).get("sid")
    session_state(request).rotate(provider_session(sign_in.issuer, sid) if sid else None)
    person = Shopper(identity.subject, tokens["access_token"], identity.username, identity.roles)
    if isinstance(guest, str) and guest.startswith(GUEST_PREFIX):
        await _move_cart(Shopper(guest, await sign_in.service_tokens.token()), person, cart)
    request.session.pop("shopper", None)
    return RedirectResponse(request.session.pop("after_signin", "/"), 303)


async def _move_cart(guest: Shopper, person: Shopper, cart: CartDep) -> None:
    """Add the guest cart's lines to the person's cart, then empty the guest cart.

    A line the person's cart cannot take (its copy limit) stays behind rather than failing sign-in.
    """
    try:
        lines = (await cart.get(guest)).items
        for line in lines:
            try:
                await cart.add(person, line.book_id, line.quantity)
            except EdgeError as error:
                log.info(
                    "guest cart line not moved", extra={"book_id": line.book_id, "reason": error.message}
                )
        if lines:
            await cart.empty(guest)
    except (EdgeError, grpc.aio.AioRpcError) as error:
        log.warning("guest cart not moved at sign-in", extra={"error": str(error)})


@router.post("/signout", dependencies=[Depends(same_origin)])
async def signout(request: Request) -> Response:
    """End the session here (deleted from the store) and at the identity provider."""
    user = request.session.get("user") or {}
    session_state(request).end()
    home = f"{request.app.state.public_url}/"
    try:
        metadata = await _sign_in(request).oauth_client.load_server_metadata()
    except PROVIDER_UNREACHABLE as error:
        log.warning("identity provider unreachable at sign-out", extra={"error": str(error)})
        return RedirectResponse(home, 303)
    end_session = metadata.get("end_session_endpoint")
    if not end_session:
        return RedirectResponse(home, 303)
    query = {"post_logout_redirect_uri": home, "client_id": _sign_in(request).oauth_client.client_id}
    if user.get("id_token"):
        query["id_token_hint"] = user["id_token"]
    return RedirectResponse(f"{end_session}?{urlencode(query)}", 303)


def provider_session(issuer: str, sid: str) -> str:
    """How the session store indexes a provider's session."""
    return f"{issuer.rstrip('/')} {sid}"


@router.get("/signout/frontchannel")
async def frontchannel_logout(
    request: Request,
    iss: Annotated[str, Query(max_length=300)],
    sid: Annotated[str, Query(min_length=1, max_length=100)],
) -> Response:
    """OpenID front-channel logout: the provider, ending its session `sid`, loads this page in a
    frame; every shop session signed in under it ends. Only the provider may frame it."""
    sign_in = _sign_in(request)
    if iss.rstrip("/") != sign_in.issuer.rstrip("/"):
        raise BadRequest("iss: not this shop's identity provider", field="iss")
    ended = await sessions_of(request).store.end_provider_session(provider_session(iss, sid))
    log.info("front-channel logout", extra={"sessions_ended": ended})
    return HTMLResponse(
        "<!doctype html><title>Signed out</title><p>Signed out of Folio.</p>",
        headers={
            "Cache-Control": "no-store",
            "Content-Security-Policy": f"default-src 'none'; frame-ancestors {origin_of(sign_in.issuer)}",
        },
    )
