"""Page tokens: opaque offsets bound to the filters they were issued for."""

import pytest

from folio_platform import pagination
from folio_platform.errors import InvalidArgument


@pytest.mark.parametrize(("requested", "expected"), [(0, 20), (1, 1), (37, 37), (100, 100)])
def test_page_size(requested: int, expected: int) -> None:
    assert pagination.page_size(requested) == expected


@pytest.mark.parametrize("requested", [-1, 101, -(2**31)])
def test_page_size_out_of_range(requested: int) -> None:
    with pytest.raises(InvalidArgument) as caught:
        pagination.page_size(requested)
    assert caught.value.field == "page_size"
    assert str(requested) in caught.value.description


def test_token_round_trips_with_the_same_filters() -> None:
    token = pagination.encode(40, "books", "adventure", "", False, 0)
    assert pagination.decode(token, "books", "adventure", "", False, 0) == 40
    assert "=" not in token


def test_empty_token_is_the_first_page() -> None:
    assert pagination.decode("", "books") == 0


@pytest.mark.parametrize(
    "filters", [("books", "crime-mystery", "", False, 0), ("books", "adventure", "", True, 0), ("search",)]
)
def test_token_refused_for_other_filters(filters: tuple[object, ...]) -> None:
    token = pagination.encode(20, "books", "adventure", "", False, 0)
    with pytest.raises(InvalidArgument) as caught:
        pagination.decode(token, *filters)
    assert caught.value.field == "page_token"


@pytest.mark.parametrize("offset", [-1, 2**31, 2**63, 10**30])
def test_token_with_an_impossible_offset_is_refused(offset: int) -> None:
    # Tokens are not signed: a forged one must be refused, not reach the database as a huge OFFSET.
    token = pagination.encode(offset, "books")
    with pytest.raises(InvalidArgument) as caught:
        pagination.decode(token, "books")
    assert caught.value.field == "page_token"


@pytest.mark.parametrize("token", ["!!!", "a", "bm9jb2xvbg", "Zm9vOmJhcg", "w7w6eA", "_zox"])
def test_malformed_token_is_refused(token: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        pagination.decode(token, "books")
    assert caught.value.field == "page_token"


def test_next_token_until_the_last_page() -> None:
    assert pagination.decode(pagination.next_token(0, 20, 45, "books"), "books") == 20
    assert pagination.decode(pagination.next_token(20, 20, 45, "books"), "books") == 40
    assert pagination.next_token(40, 20, 45, "books") == ""
    assert pagination.next_token(0, 20, 20, "books") == ""
    assert pagination.next_token(0, 20, 0, "books") == ""
