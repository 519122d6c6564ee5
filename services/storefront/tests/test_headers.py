"""Security headers on every response, and pages that run under a policy without inline code."""

import base64
import hashlib
import re
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from folio_storefront import app as app_module
from folio_storefront.headers import shop_policy

TEMPLATES = Path(app_module.__file__).parent / "templates"
PAGES = [
    "/",
    "/genres/adventure",
    "/books/moby-dick",
    "/search?q=whale",
    "/authors",
    "/authors/herman-melville",
    "/assistant?q=whales",
    "/cart",
    "/checkout",
    "/orders",
    "/admin",
    "/signin",
]
OTHERS = [
    "/api/v1/books",
    "/api/v1/books/moby-dick",
    "/openapi.json",
    "/static/style.css",
    "/healthz",
    "/no-such-page",
    "/api/v1/no-such-thing",
    "/books/Not_A_Slug",
    "/api/v1/books?page_size=0",
]


def inline_code(html: str) -> list[str]:
    """What in `html` would need 'unsafe-inline': script or style blocks with a body, event
    handler attributes, style attributes, javascript: URLs."""
    blocks = re.findall(r"<(script|style)\b[^>]*>(.*?)</\1>", html, re.S | re.I)
    found = [f"inline <{tag}>" for tag, body in blocks if body.strip()]
    found += [f"handler {m}" for m in re.findall(r"<[^>]*\s(on[a-z]+)\s*=", html, re.I)]
    found += ["style attribute" for _ in re.findall(r"<[^>]*\sstyle\s*=", html, re.I)]
    found += ["javascript: URL" for _ in re.findall(r"""=\s*["']?\s*javascript:""", html, re.I)]
    return found


def assert_secure_headers(response: httpx.Response) -> None:
    headers = response.headers
    where = f"{response.request.method} {response.request.url.path} -> {response.status_code}"
    assert headers.get("x-content-type-options") == "nosniff", where
    assert headers.get("referrer-policy") == "strict-origin-when-cross-origin", where
    policy = headers.get("content-security-policy", "")
    assert "frame-ancestors 'none'" in policy, where
    assert headers.get("x-frame-options") == "DENY", where
    directives = dict(d.strip().partition(" ")[::2] for d in policy.split(";"))
    assert "'unsafe-inline'" not in directives.get("script-src", "'unsafe-inline'"), where


async def test_every_response_carries_the_security_headers(client: httpx.AsyncClient) -> None:
    # One storefront for every path: pages, API, static files, probes, 404s and 400s.
    for path in PAGES + OTHERS:
        assert_secure_headers(await client.get(path))


async def test_the_shop_policy_admits_only_its_own_scripts_and_styles(client: httpx.AsyncClient) -> None:
    policy = (await client.get("/")).headers["content-security-policy"]
    directives = {d.strip().split(" ")[0]: d.strip().split(" ")[1:] for d in policy.split(";")}

    assert directives["script-src"] == ["'self'"]
    assert directives["style-src"] == ["'self'"]
    assert directives["object-src"] == ["'none'"]
    assert directives["form-action"][0] == "'self'"


async def test_errors_a_refused_body_and_a_crash_carry_them_too(catalog_server, issuer, storefront) -> None:
    async with storefront(catalog_server.address) as client:
        app: FastAPI = client._transport.app  # type: ignore[attr-defined]

        async def crash() -> None:
            raise RuntimeError("a bug")

        app.add_api_route("/crash", crash)
        crashed = await client.get("/crash")
        too_large = await client.post("/api/v1/cart/items", content=b"x" * (2 * 1024 * 1024))
        wrong_method = await client.delete("/api/v1/books")

    assert crashed.status_code == 500
    assert too_large.status_code == 413
    assert wrong_method.status_code == 405
    for response in (crashed, too_large, wrong_method):
        assert_secure_headers(response)


async def test_pages_run_no_inline_code_and_their_scripts_are_served(client: httpx.AsyncClient) -> None:
    scripts = set()
    for path in PAGES:
        html = (await client.get(path, follow_redirects=True)).text
        assert inline_code(html) == [], path
        scripts |= set(re.findall(r'<script[^>]*\ssrc="([^"]+)"', html))

    assert scripts, "the book and Ask pages load their scripts from files"
    for src in scripts:
        script = await client.get(src)
        assert script.status_code == 200, src
        assert script.headers["content-type"].startswith(("text/javascript", "application/javascript"))


@pytest.mark.parametrize("template", sorted(TEMPLATES.glob("*.html")), ids=lambda p: p.name)
def test_no_template_has_inline_code(template: Path) -> None:
    assert inline_code(template.read_text()) == [], template.name


@pytest.mark.parametrize(
    "html",
    [
        "<p>hi</p><script>alert(1)</script>",
        '<button onclick="buy()">Buy</button>',
        '<p style="color: red">sale</p>',
        "<style>p { color: red }</style>",
        '<a href="javascript:buy()">Buy</a>',
    ],
)
def test_the_inline_code_check_catches_inline_code(html: str) -> None:
    assert inline_code(html) != []


def test_the_inline_code_check_passes_script_files() -> None:
    assert (
        inline_code('<script src="/static/ask.js" defer></script><link rel="stylesheet" href="/s.css">') == []
    )


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
async def test_api_docs_admit_exactly_their_own_inline_script(client: httpx.AsyncClient, path: str) -> None:
    page = await client.get(path)
    policy = page.headers["content-security-policy"]
    script_src = next(d for d in policy.split(";") if d.strip().startswith("script-src"))

    assert page.status_code == 200
    assert "'unsafe-inline'" not in script_src
    assert "frame-ancestors 'none'" in policy
    for body in re.findall(r"<script>(.*?)</script>", page.text, re.S):
        digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in script_src


def test_forms_may_post_to_the_identity_provider_for_sign_out() -> None:
    policy = shop_policy("https://auth.example.com/realms/folio")

    assert "form-action 'self' https://auth.example.com;" in policy
