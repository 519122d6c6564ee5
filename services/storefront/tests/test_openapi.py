"""The OpenAPI document describes the public REST API as it really behaves."""

from fastapi.routing import APIRoute

from folio_storefront import api, assistant_routes, commerce_api


def _api_routes() -> set[tuple[str, str]]:
    """(path, method) of every route the API routers serve."""
    return {
        (route.path, method.lower())
        for route in [*api.router.routes, *commerce_api.router.routes, *assistant_routes.router.routes]
        if isinstance(route, APIRoute) and route.path.startswith("/api/")
        for method in route.methods
    }


async def test_every_api_route_is_documented(client) -> None:
    spec = (await client.get("/openapi.json")).json()

    documented = {
        (path, method)
        for path, operations in spec["paths"].items()
        if path.startswith("/api/")
        for method in operations
    }
    assert documented == _api_routes()
    assert {path for path, _ in documented} >= {"/api/v1/books", "/api/v1/books/{book_id}", "/api/v1/search"}


async def test_every_api_operation_declares_its_error_responses(client) -> None:
    spec = (await client.get("/openapi.json")).json()

    for path, operations in spec["paths"].items():
        if not path.startswith("/api/v1/"):
            continue
        for method, operation in operations.items():
            responses = operation["responses"]
            for status in ("400", "404", "503"):
                schema = responses[status]["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/ErrorBody"}, (path, method, status)
            assert "422" not in responses, (
                f"{method} {path} documents a 422 the API never sends (it sends 400)"
            )


async def test_error_body_schema_matches_what_errors_look_like(client) -> None:
    spec = (await client.get("/openapi.json")).json()
    schemas = spec["components"]["schemas"]

    assert schemas["ErrorBody"]["required"] == ["error"]
    detail = schemas["ErrorDetail"]
    assert set(detail["required"]) == {"code", "message"}
    assert {"code", "message", "field", "dependency"} == set(detail["properties"])
    error = (await client.get("/api/v1/books", params={"page_size": 0})).json()["error"]
    assert set(error) <= set(detail["properties"])


async def test_pages_are_not_part_of_the_api_document(client) -> None:
    spec = (await client.get("/openapi.json")).json()

    assert not {"/", "/books/{book_id}", "/search", "/authors"} & set(spec["paths"])
    assert (await client.get("/docs")).status_code == 200
