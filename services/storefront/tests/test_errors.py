"""Bad input and missing things: a 4xx with one error shape that names the field, never a 500."""

import httpx
import pytest


def _error(response: httpx.Response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}
    error = body["error"]
    assert isinstance(error["message"], str)
    assert error["message"].strip()
    return error


@pytest.mark.parametrize("path", ["/api/v1/books/no-such-book", "/api/v1/authors/no-such-author"])
async def test_unknown_id_is_404_not_found(client, path: str) -> None:
    error = _error(await client.get(path), 404)

    assert set(error) == {"code", "message"}
    assert error["code"] == "not_found"
    assert path.rsplit("/", 1)[1] in error["message"]


async def test_unknown_api_path_is_json_404(client) -> None:
    error = _error(await client.get("/api/v1/nothing-here"), 404)

    assert error["code"] == "not_found"


async def test_wrong_method_is_405_in_the_same_shape(client) -> None:
    error = _error(await client.post("/api/v1/books", json={}), 405)

    assert error["code"] == "method_not_allowed"


# (path, other parameters it needs); httpx's `params` replaces a query string given in the path.
PAGED = [("/api/v1/books", {}), ("/api/v1/search", {"q": "sea"}), ("/api/v1/authors", {})]


@pytest.mark.parametrize(("path", "params"), PAGED)
@pytest.mark.parametrize("page_size", ["0", "101", "-1", "abc", "1.5"])
async def test_bad_page_size_is_400_naming_page_size(client, path: str, params: dict, page_size: str) -> None:
    response = await client.get(path, params=params | {"page_size": page_size})

    error = _error(response, 400)
    assert error["code"] == "invalid_argument"
    assert error["field"] == "page_size"
    assert "page_size" in error["message"]


@pytest.mark.parametrize("genre", ["Adventure", "sci fi", "-adventure", "a" * 161, "advent%C3%BCre"])
async def test_malformed_genre_slug_is_400_naming_genre(client, genre: str) -> None:
    error = _error(await client.get("/api/v1/books", params={"genre": genre}), 400)

    assert error["field"] == "genre"


@pytest.mark.parametrize(("path", "params"), PAGED[:2])
async def test_unknown_genre_is_400_naming_genre(client, path: str, params: dict) -> None:
    error = _error(await client.get(path, params=params | {"genre": "cookery"}), 400)

    assert error["code"] == "invalid_argument"
    assert error["field"] == "genre"
    assert "cookery" in error["message"]


async def test_malformed_author_slug_is_400_naming_author(client) -> None:
    error = _error(await client.get("/api/v1/books", params={"author": "Jules Verne"}), 400)

    assert error["field"] == "author"


@pytest.mark.parametrize("params", [{}, {"q": ""}, {"q": "x" * 201}, {"q": "   "}])
async def test_missing_empty_or_too_long_query_is_400_naming_q(client, params: dict) -> None:
    error = _error(await client.get("/api/v1/search", params=params), 400)

    assert error["code"] == "invalid_argument"
    assert error["field"] == "q"


async def test_query_of_200_characters_is_accepted(client) -> None:
    response = await client.get("/api/v1/search", params={"q": "whale " + "x" * 194})

    assert response.status_code == 200


@pytest.mark.parametrize(("path", "params"), PAGED)
@pytest.mark.parametrize("token", ["not-a-token", "!!!", "Zm9v", "x" * 201])
async def test_bad_page_token_is_400_naming_page_token(client, path: str, params: dict, token: str) -> None:
    error = _error(await client.get(path, params=params | {"page_token": token}), 400)

    assert error["code"] == "invalid_argument"
    assert error["field"] == "page_token"


async def test_page_token_from_another_list_is_refused(client) -> None:
    first = (await client.get("/api/v1/books", params={"page_size": 2})).json()
    assert first["next_page_token"]

    response = await client.get(
        "/api/v1/books", params={"page_size": 2, "genre": "adventure", "page_token": first["next_page_token"]}
    )

    assert _error(response, 400)["field"] == "page_token"


@pytest.mark.parametrize(
    ("params", "field"), [({"order": "price"}, "order"), ({"featured": "maybe"}, "featured")]
)
async def test_other_bad_parameters_are_400_naming_them(client, params: dict, field: str) -> None:
    assert _error(await client.get("/api/v1/books", params=params), 400)["field"] == field


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/api/v1/books/Moby-Dick", "book_id"),
        ("/api/v1/books/" + "a" * 161, "book_id"),
        ("/api/v1/books/-dash-first", "book_id"),
        ("/api/v1/authors/Jules_Verne", "author_id"),
    ],
)
async def test_malformed_ids_are_400_naming_the_id(client, path: str, field: str) -> None:
    assert _error(await client.get(path), 400)["field"] == field


BAD_REQUESTS = [
    "/api/v1/books?page_size=0",
    "/api/v1/books?page_size=101",
    "/api/v1/books?page_size=abc",
    "/api/v1/books?page_size=99999999999999999999999",
    "/api/v1/books?genre=Bad_Slug",
    "/api/v1/books?genre=unknown-genre",
    "/api/v1/books?author=unknown-author&page_token=garbage",
    "/api/v1/books?page_token=" + "A" * 200,
    "/api/v1/books?page_token=OTk5OTk5OTk5OTk5OTk5OTk5OTk5OTk6YWJj",
    "/api/v1/books?page_token=LTU6YWJj",
    "/api/v1/books/%00",
    "/api/v1/books/no-such-book",
    "/api/v1/search",
    "/api/v1/search?q=" + "q" * 201,
    '/api/v1/search?q="',
    "/api/v1/search?q=***",
    "/api/v1/search?q=NEAR(a b)",
    "/api/v1/search?q=a%00b",
    "/api/v1/search?q=whale&page_token=%FF%FE",
    "/api/v1/search?q=whale&genre=unknown-genre",
    "/api/v1/authors?page_size=0",
    "/api/v1/authors?page_token=Zm9vOmJhcg",
    "/api/v1/authors/no-such-author",
    "/api/v1/genres?page_size=0",
]


@pytest.mark.parametrize("path", BAD_REQUESTS)
async def test_no_bad_input_gets_a_500(client, path: str) -> None:
    response = await client.get(path)

    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        assert response.json()["error"]["code"] in {"invalid_argument", "not_found"}
