"""The public REST API's JSON shapes (part of its OpenAPI document)."""

from pydantic import BaseModel, Field

from folio.catalog.v1 import catalog_pb2
from folio.common.v1 import money_pb2

# Minor units per major unit; every currency Folio sells in has two decimals.
_MINOR_PER_MAJOR = 100


class Ref(BaseModel):
    id: str
    name: str


class Price(BaseModel):
    currency: str = Field(examples=["USD"])
    amount: str = Field(description="decimal string, e.g. '12.99'", examples=["12.99"])
    minor_units: int = Field(description="amount in cents", examples=[1299])


class Book(BaseModel):
    id: str = Field(examples=["moby-dick"])
    title: str
    author: Ref
    year: int = Field(description="year of first publication; negative for BCE")
    language: str = Field(description="ISO 639-1 code of the original language")
    genres: list[Ref]
    description: str
    price: Price
    stock: int
    in_stock: bool
    featured: bool


class BookPage(BaseModel):
    items: list[Book]
    total: int = Field(description="matches across all pages")
    next_page_token: str | None = Field(description="pass as page_token for the next page; null on the last")


class Genre(BaseModel):
    id: str
    name: str
    description: str
    book_count: int


class Author(BaseModel):
    id: str
    name: str
    born: int | None
    died: int | None
    nationality: str
    bio: str
    book_count: int


class AuthorPage(BaseModel):
    items: list[Author]
    total: int
    next_page_token: str | None


class Health(BaseModel):
    status: str
    checks: dict[str, str] = {}


def _amount(minor_units: int) -> str:
    """'12.99' for 1299 minor units (integer arithmetic: exact, and cheaper than Decimal)."""
    sign = "-" if minor_units < 0 else ""
    major, minor = divmod(abs(minor_units), _MINOR_PER_MAJOR)
    return f"{sign}{major}.{minor:02d}"


def price_of(money: money_pb2.Money) -> Price:
    return Price(
        currency=money.currency_code, amount=_amount(money.minor_units), minor_units=money.minor_units
    )


def book_of(book: catalog_pb2.Book) -> Book:
    # One validation of the whole tree in pydantic's core, rather than one constructor per model.
    return Book.model_validate(
        {
            "id": book.id,
            "title": book.title,
            "author": {"id": book.author.id, "name": book.author.name},
            "year": book.year,
            "language": book.language,
            "genres": [{"id": g.id, "name": g.name} for g in book.genres],
            "description": book.description,
            "price": {
                "currency": book.price.currency_code,
                "amount": _amount(book.price.minor_units),
                "minor_units": book.price.minor_units,
            },
            "stock": book.stock,
            "in_stock": book.stock > 0,
            "featured": book.featured,
        }
    )


def author_of(author: catalog_pb2.Author) -> Author:
    return Author(
        id=author.id,
        name=author.name,
        born=author.born if author.HasField("born") else None,
        died=author.died if author.HasField("died") else None,
        nationality=author.nationality,
        bio=author.bio,
        book_count=author.book_count,
    )
