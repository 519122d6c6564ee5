"""Who the shopper is, and which requests may change their cart or orders.

Until identity lands a shopper is an anonymous id kept in a signed, HttpOnly, SameSite=Lax
session cookie; the services only ever see the id, so a signed-in user's id will replace it
without any contract changing.
"""

import uuid
from urllib.parse import urlsplit

from fastapi import Request

from folio_storefront.errors import Forbidden


async def current_shopper(request: Request) -> str:
    """The shopper id from the session, minting one on the first visit."""
    shopper = request.session.get("shopper")
    if not isinstance(shopper, str):
        shopper = f"anon-{uuid.uuid4().hex}"
        request.session["shopper"] = shopper
    return shopper


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
