"""Tables of the catalog (SQLAlchemy 2 declarative). Search tables are created by migrations."""

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class Base(DeclarativeBase):
    pass


class AuthorRow(Base):
    __tablename__ = "authors"

    id: Mapped[str] = mapped_column(String(120), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), index=True)
    born: Mapped[int | None] = mapped_column(Integer)
    died: Mapped[int | None] = mapped_column(Integer)
    nationality: Mapped[str] = mapped_column(String(80), default="")
    bio: Mapped[str] = mapped_column(Text, default="")

    books: Mapped[list["BookRow"]] = relationship(back_populates="author")


class GenreRow(Base):
    __tablename__ = "genres"

    id: Mapped[str] = mapped_column(String(60), primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    description: Mapped[str] = mapped_column(Text, default="")


class BookGenreRow(Base):
    __tablename__ = "book_genres"

    book_id: Mapped[str] = mapped_column(ForeignKey("books.id", ondelete="CASCADE"), primary_key=True)
    genre_id: Mapped[str] = mapped_column(ForeignKey("genres.id"), primary_key=True, index=True)
    # Order of genres for a book, most fitting first.
    position: Mapped[int] = mapped_column(Integer, default=0)

    genre: Mapped[GenreRow] = relationship(lazy="joined")


class BookRow(Base):
    __tablename__ = "books"
    __table_args__ = (
        CheckConstraint("stock >= 0", name="ck_books_stock_not_negative"),
        CheckConstraint("price_minor >= 0", name="ck_books_price_not_negative"),
        Index("ix_books_author_title", "author_id", "title"),
    )

    id: Mapped[str] = mapped_column(String(160), primary_key=True)
    title: Mapped[str] = mapped_column(String(300), index=True)
    author_id: Mapped[str] = mapped_column(ForeignKey("authors.id"))
    year: Mapped[int] = mapped_column(Integer, index=True)
    language: Mapped[str] = mapped_column(String(8))
    description: Mapped[str] = mapped_column(Text, default="")
    price_minor: Mapped[int] = mapped_column(Integer)
    currency_code: Mapped[str] = mapped_column(String(3), default="USD")
    stock: Mapped[int] = mapped_column(Integer, default=0)
    featured: Mapped[bool] = mapped_column(default=False, index=True)

    author: Mapped[AuthorRow] = relationship(back_populates="books", lazy="joined")
    genre_links: Mapped[list[BookGenreRow]] = relationship(
        order_by=BookGenreRow.position, lazy="selectin", cascade="all, delete-orphan"
    )


class ReservationRow(Base):
    """Stock held for one checkout, keyed by the caller's id (the order id)."""

    __tablename__ = "reservations"

    id: Mapped[str] = mapped_column(String(100), primary_key=True)
    # held -> released | committed
    state: Mapped[str] = mapped_column(String(16))
    created_at_ms: Mapped[int] = mapped_column(BigInteger)
    updated_at_ms: Mapped[int] = mapped_column(BigInteger)


class ReservationLineRow(Base):
    __tablename__ = "reservation_lines"

    reservation_id: Mapped[str] = mapped_column(
        ForeignKey("reservations.id", ondelete="CASCADE"), primary_key=True
    )
    book_id: Mapped[str] = mapped_column(String(160), primary_key=True)
    title: Mapped[str] = mapped_column(String(300))
    quantity: Mapped[int] = mapped_column(Integer)
    unit_price_minor: Mapped[int] = mapped_column(Integer)
    currency_code: Mapped[str] = mapped_column(String(3))
