"""What the catalog's storage hands out: plain frozen records, never rows bound to a connection."""

from dataclasses import dataclass
from enum import Enum, StrEnum


@dataclass(frozen=True)
class AuthorRecord:
    id: str
    name: str
    born: int | None = None
    died: int | None = None
    nationality: str = ""
    bio: str = ""
    book_count: int = 0


@dataclass(frozen=True)
class GenreRecord:
    id: str
    name: str
    description: str = ""
    book_count: int = 0


@dataclass(frozen=True)
class BookRecord:
    id: str
    title: str
    author_id: str
    author_name: str
    year: int
    language: str
    genres: tuple[tuple[str, str], ...]  # (id, name), most fitting first
    description: str
    price_minor: int
    currency_code: str
    stock: int
    featured: bool = False


@dataclass(frozen=True)
class Page[T]:
    items: list[T]
    total: int


class ReservationState(StrEnum):
    """held -> released | committed; a reservation leaves `held` once."""

    HELD = "held"
    RELEASED = "released"
    COMMITTED = "committed"


@dataclass(frozen=True)
class ReservedLineRecord:
    book_id: str
    title: str
    quantity: int
    unit_price_minor: int
    currency_code: str


@dataclass(frozen=True)
class ReservationRecord:
    id: str
    state: ReservationState
    lines: tuple[ReservedLineRecord, ...] = ()


class BookOrder(Enum):
    TITLE = "title"
    YEAR = "year"
    YEAR_DESC = "year_desc"
