"""Security headers on every response, and the API docs pages under a policy of their own.

The shop's pages run no inline script or style: scripts and the stylesheet are files under
/static, so the Content-Security-Policy admits only this origin and an injected `<script>` does
not run. No page may be framed (clickjacking), no response is sniffed into another type, and
another site learns at most this shop's origin from a link.
"""

import base64
import hashlib
import re
from urllib.parse import urlsplit

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CSP = "content-security-policy"


def origin_of(url: str) -> str:
    """scheme://host[:port] of `url`."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def shop_policy(identity_provider: str) -> str:
    """The pages' policy. Forms post here only, and to the identity provider: sign-out is a form
    whose answer redirects there, and browsers hold a form's redirects to form-action too."""
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data:",
            "connect-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            f"form-action 'self' {origin_of(identity_provider)}",
            "frame-ancestors 'none'",
        ]
    )


class SecurityHeaders:
    """ASGI middleware: the security headers on every HTTP response, errors and static files included.

    A response that brings its own Content-Security-Policy keeps it (the docs pages, the
    front-channel logout page the identity provider frames) and then owns its framing too.
    """

    def __init__(self, app: ASGIApp, policy: str) -> None:
        self.app = app
        self.policy = policy.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                added = [
                    (b"x-content-type-options", b"nosniff"),
                    (b"referrer-policy", b"strict-origin-when-cross-origin"),
                ]
                if CSP.encode() not in present:
                    added += [(CSP.encode(), self.policy), (b"x-frame-options", b"DENY")]
                headers += [(name, value) for name, value in added if name not in present]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)


_INLINE = re.compile(r"<(script|style)(?:\s[^>]*)?>(.*?)</\1>", re.S | re.I)


def _hashes(html: str, tag: str) -> str:
    """'sha256-...' sources for the inline <tag> blocks of `html` that have content."""
    return " ".join(
        "'sha256-" + base64.b64encode(hashlib.sha256(body.encode()).digest()).decode() + "'"
        for name, body in _INLINE.findall(html)
        if name.lower() == tag and body.strip()
    )


def _docs_page(page: HTMLResponse) -> HTMLResponse:
    """FastAPI's docs page with a policy admitting its CDN and exactly its own inline blocks."""
    html = bytes(page.body).decode()
    cdn = "https://cdn.jsdelivr.net"
    policy = "; ".join(
        [
            "default-src 'self'",
            f"script-src 'self' {cdn} {_hashes(html, 'script')}".strip(),
            # Swagger UI and ReDoc set style attributes from script.
            f"style-src 'self' {cdn} https://fonts.googleapis.com 'unsafe-inline'",
            "font-src 'self' https://fonts.gstatic.com",
            "img-src 'self' data: https://fastapi.tiangolo.com https://cdn.redoc.ly",
            "connect-src 'self'",
            "worker-src 'self' blob:",
            "object-src 'none'",
            "base-uri 'none'",
            "frame-ancestors 'none'",
        ]
    )
    return HTMLResponse(html, headers={"Content-Security-Policy": policy, "X-Frame-Options": "DENY"})


def add_docs_pages(app: FastAPI) -> None:
    """/docs (Swagger UI) and /redoc, each under a policy of its own (see _docs_page)."""

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return _docs_page(get_swagger_ui_html(openapi_url="/openapi.json", title=f"{app.title} - docs"))

    @app.get("/redoc", include_in_schema=False)
    async def redoc() -> HTMLResponse:
        return _docs_page(get_redoc_html(openapi_url="/openapi.json", title=f"{app.title} - ReDoc"))
