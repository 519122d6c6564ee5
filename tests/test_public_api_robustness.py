"""The public REST API under odd input and under load, against the running shop.

Fuzzed from its own OpenAPI document (schemathesis): whatever a client sends — valid, invalid,
huge, odd — the storefront answers with no 5xx, and every error body has the documented shape
`{"error": {"code", "message", ...}}`. Then the Locust shopper mix runs briefly: every journey
is exercised and nothing fails.
"""

from pathlib import Path

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from folio_testing.locust import run_locust, signin_env

from .conftest import RunningStack

pytestmark = pytest.mark.e2e

# The shopper mix `make load` and `make bench` run.
LOCUSTFILE = Path(__file__).resolve().parents[1] / "loadtest" / "locustfile.py"
# Hypothesis examples per operation: enough to reach odd inputs, few enough for `make test`.
EXAMPLES = 25


def _check(case) -> None:  # type: ignore[no-untyped-def]
    response = case.call(timeout=15)
    where = f"{case.method} {case.formatted_path} {case.query or ''}"
    assert response.status_code < 500, f"{where}: {response.status_code} {response.text[:300]}"
    content_type = response.headers.get("content-type") or [""]
    if response.status_code >= 400 and content_type[0].startswith("application/json"):
        body = response.json()
        assert set(body) == {"error"}, (where, body)
        assert {"code", "message"} <= set(body["error"]), (where, body)
        assert isinstance(body["error"]["message"], str), (where, body)
        assert body["error"]["message"], (where, body)


def test_no_input_gets_a_server_error_or_an_undocumented_error_body(shop: RunningStack) -> None:
    base = shop.stack.url("storefront").rstrip("/")
    schema = schemathesis.openapi.from_url(f"{base}/openapi.json")
    schema.config.update(base_url=base)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 10
    for operation in operations:
        fuzz = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))(
            given(case=operation.as_strategy())(_check)
        )
        fuzz()


def test_the_schema_covers_the_shoppers_operations(shop: RunningStack) -> None:
    document = httpx.get(f"{shop.stack.url('storefront')}openapi.json").json()
    operations = {(m.upper(), p) for p, ops in document["paths"].items() for m in ops}
    assert ("POST", "/api/v1/orders") in operations
    assert ("GET", "/api/v1/books/{book_id}") in operations or any(
        p.startswith("/api/v1/books/") for _, p in operations
    )


def test_the_locust_shopper_mix_runs_every_journey_without_failures(
    shop: RunningStack, tmp_path: Path
) -> None:
    members = signin_env(shop.stack)
    run = run_locust(
        LOCUSTFILE,
        shop.stack.url("storefront").rstrip("/"),
        users=6,
        seconds=12,
        out=tmp_path,
        html=False,
        extra_env=members,
    )
    seen = {e.name for e in run.endpoints if e.requests}
    for journey in (
        "GET / (home page)",
        "GET /api/v1/books/[id]",
        "GET /api/v1/search",
        "POST /api/v1/cart/items",
    ):
        assert journey in seen, f"{journey} never ran: {sorted(seen)}"
    assert run.total.failures == 0, [(e.name, e.failures) for e in run.endpoints if e.failures]
    assert run.total.requests > 20
