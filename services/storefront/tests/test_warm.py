"""What a first shopper would wait for is done as the storefront starts, not on their request."""

import asyncio
from pathlib import Path

from folio_testing.issuer import TestIssuer

from .conftest import running, storefront_app


async def test_keys_and_the_openapi_document_are_ready_before_the_first_request(
    issuer: TestIssuer, tmp_path: Path
) -> None:
    app = storefront_app(issuer, "127.0.0.1:9", tmp_path)
    before = issuer.jwks_requests
    async with running(app):
        for _ in range(400):  # up to 20 s on a busy machine
            if app.openapi_schema is not None and issuer.jwks_requests > before:
                break
            await asyncio.sleep(0.05)
        # No request has been made: the start itself fetched the keys and built the document.
        assert issuer.jwks_requests == before + 1
        assert app.openapi_schema is not None
        assert "/api/v1/cart" in app.openapi_schema["paths"]
