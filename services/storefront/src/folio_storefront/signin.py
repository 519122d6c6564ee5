"""Sign-in and sign-out through the identity provider (OpenID Connect, authorization code + PKCE).

Who may call: anyone. Keycloak in a cluster, the development provider on a laptop: the same
code path. On sign-in the guest's cart moves into the person's cart.
"""

import logging
from typing import Annotated
from urllib.parse import urlencode, urlsplit

import grpc
from authlib.integrations.base_client.errors import OAuthError
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import RedirectResponse, Response

from folio_platform.auth import GUEST_PREFIX
from folio_platform.errors import Unauthenticated
from folio_storefront.deps import CartDep
from folio_storefront.errors import BadRequest, EdgeError
from folio_storefront.shopper import Shopper, SignIn, remember_user, same_origin

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
    guest = request.session.get("shopper")
    remember_user(request, identity, tokens)
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
    request.session.pop("user", None)
    metadata = await _sign_in(request).oauth_client.load_server_metadata()
    end_session = metadata.get("end_session_endpoint")
    home = f"{request.app.state.public_url}/"
    if not end_session:
        return RedirectResponse(home, 303)
    query = urlencode(
        {"post_logout_redirect_uri": home, "client_id": _sign_in(request).oauth_client.client_id}
    )
    return RedirectResponse(f"{end_session}?{query}", 303)
