"""The public REST API under odd input and under load, against the running shop.

Fuzzed from its own OpenAPI document (schemathesis): whatever a client sends — valid, invalid,
huge, odd — the storefront answers with no 5xx, and every error body has the documented shape
`{"error": {"code", "message", ...}}`. Then the Locust shopper mix runs briefly: every journey
is exercised and nothing fails.
"""

from pathlib import Path
from typing import Any

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


# Values every parameter of every public route is given, raw in the URL: control characters, odd or
# broken encodings (invalid and overlong UTF-8, a lone surrogate, bidi override), huge and odd numbers.
ODD_VALUES = (
    "%00",
    "a%0Ab",
    "%0D%0ASet-Cookie:%20x=1",
    "%1B%5B2J",
    "%7F",
    "%C2%85",
    "%FF%FE",
    "%C0%AE%C0%AE",
    "%ED%A0%80",
    "%E2%80%AE",
    "%F0%9F%99%82",
    "..%2F..%2Fetc%2Fpasswd",
    "x" * 4000,
    "9" * 400,
    "-1",
    "NaN",
    "1e999",
)
# JSON bodies sent to every operation that takes one.
ODD_BODIES = (
    b"",
    b'{"a":',
    b"\xff\xfe\x00",
    b'{"s": "\\ud800"}',
    b"[" * 30000,
    b"1e999999",
    b'{"book_id": "moby-dick", "quantity": 1e400}',
    b'{"book_id": "moby-dick", "quantity": 99999999999999999999999999999}',
    b'{"book_id": "moby\\u0000dick", "quantity": 1}',
    b'{"email": "a@b.co\\r\\nBcc: x@y.z", "shipping_address": {}, "card": {}}',
    b'{"book_id": ' + b'"' + b"x" * 60000 + b'"}',
)


def _send(client: httpx.Client, method: str, url: str, **options: Any) -> httpx.Response:
    """The response with its body read only when it is an error (a streamed answer is not awaited)."""
    with client.stream(method, url, **options) as response:
        if response.status_code >= 400:
            response.read()
        return response


def _assert_clean(response: httpx.Response, where: str) -> None:
    assert response.status_code < 500, f"{where}: {response.status_code} {response.text[:300]}"
    if response.status_code >= 400 and response.headers.get("content-type", "").startswith(
        "application/json"
    ):
        error = response.json()["error"]
        assert error["code"], where
        assert error["message"], where


def test_odd_values_in_every_parameter_of_every_public_route_never_get_a_server_error(
    shop: RunningStack,
) -> None:
    base = shop.stack.url("storefront").rstrip("/")
    document = httpx.get(f"{base}/openapi.json").json()
    tried = 0
    with httpx.Client(base_url=base, timeout=15) as client:
        for path, operations in document["paths"].items():
            for method, operation in operations.items():
                parameters = [p for p in operation.get("parameters", []) if p["in"] in ("path", "query")]
                defaults = {p["name"]: "moby-dick" for p in parameters if p["in"] == "path"}
                for parameter in parameters:
                    for odd in ODD_VALUES:
                        values = defaults | {parameter["name"]: odd}
                        url = path.format(**{k: v for k, v in values.items() if f"{{{k}}}" in path})
                        if parameter["in"] == "query":
                            url += f"?{parameter['name']}={odd}"
                        where = f"{method.upper()} {url[:120]}"
                        headers = {"Idempotency-Key": "k" * 16}
                        _assert_clean(_send(client, method.upper(), url, headers=headers), where)
                        tried += 1
                if "requestBody" in operation:
                    url = path.format(**defaults)
                    for body in ODD_BODIES:
                        headers = {"content-type": "application/json", "Idempotency-Key": "k" * 16}
                        response = _send(client, method.upper(), url, content=body, headers=headers)
                        _assert_clean(response, f"{method.upper()} {url} body {body[:40]!r}")
                        tried += 1
    assert tried > 200


def test_control_characters_get_400_naming_the_field_at_every_kind_of_input(shop: RunningStack) -> None:
    base = shop.stack.url("storefront").rstrip("/")
    with httpx.Client(base_url=base, timeout=15) as client:
        for url, field in (
            ("/api/v1/search?q=whale%00", "q"),
            ("/api/v1/books/moby-dick%0A", "book_id"),
            ("/api/v1/books?genre=adventure%1B", "genre"),
        ):
            error = client.get(url).json()["error"]
            assert (error["code"], error["field"]) == ("invalid_argument", field), url
        added = client.post("/api/v1/cart/items", json={"book_id": "moby\u0085dick", "quantity": 1})
        assert added.status_code == 400
        assert added.json()["error"]["field"] == "book_id"


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
    journeys = {
        "GET / (home page)",
        "GET /api/v1/books/[id]",
        "GET /api/v1/search",
        "POST /api/v1/cart/items",
    }
    # The mix picks tasks at random: on a busy machine 12 s may not reach a rarer journey, so the mix
    # runs again (up to five times) until each has run; no run may fail a request.
    runs, seen = [], set()
    while len(runs) < 5 and not journeys <= seen:
        run = run_locust(
            LOCUSTFILE,
            shop.stack.url("storefront").rstrip("/"),
            users=6,
            seconds=12,
            out=tmp_path / f"run-{len(runs)}",
            html=False,
            extra_env=members,
        )
        runs.append(run)
        seen |= {e.name for e in run.endpoints if e.requests}
        assert run.total.failures == 0, [(e.name, e.failures) for e in run.endpoints if e.failures]
    for journey in sorted(journeys):
        assert journey in seen, f"{journey} never ran in {len(runs)} runs: {sorted(seen)}"
    assert sum(run.total.requests for run in runs) > 20
