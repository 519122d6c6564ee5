"""The assistant's own view of a book, independent of the catalog's protobufs and of any store."""

import hashlib
import json
from dataclasses import dataclass, field


def era_of(year: int) -> str:
    """A coarse period name for a year of first publication (negative is BCE)."""
    if year < 500:
        return "Antiquity"
    if year < 1500:
        return "Middle Ages"
    if year < 1800:
        return "Early modern"
    if year < 1900:
        return "19th century"
    return "20th century"


ERAS = ("Antiquity", "Middle Ages", "Early modern", "19th century", "20th century")


@dataclass(frozen=True)
class Genre:
    id: str
    name: str


@dataclass(frozen=True)
class BookRecord:
    """What the index keeps of one catalog book."""

    id: str
    title: str
    author_id: str
    author_name: str
    year: int
    language: str
    genres: tuple[Genre, ...]
    description: str
    author_nationality: str = ""

    @property
    def era(self) -> str:
        return era_of(self.year)

    def passage(self) -> str:
        """The text embedded for this book: descriptions are short (under 300 characters), so one chunk."""
        genres = ", ".join(g.name for g in self.genres)
        return f"{self.title} by {self.author_name} ({genres}). {self.description}"

    def content_hash(self) -> str:
        """Changes exactly when something the index holds about the book changes (not price or stock)."""
        content = [
            self.title,
            self.author_id,
            self.author_name,
            self.author_nationality,
            self.year,
            self.language,
            [[g.id, g.name] for g in self.genres],
            self.description,
        ]
        return hashlib.sha256(json.dumps(content, ensure_ascii=False).encode()).hexdigest()[:32]


@dataclass(frozen=True)
class BookFacts:
    """One book with its graph neighbourhood, as retrieval hands it to the answer."""

    id: str
    title: str
    author_id: str
    author_name: str
    year: int
    era: str
    genres: tuple[str, ...]
    description: str = ""
    author_nationality: str = ""
    other_books_by_author: tuple[tuple[str, str], ...] = ()
    bought_with: tuple[tuple[str, str], ...] = ()


@dataclass
class Hit:
    """A retrieved book, its score and why it was picked."""

    book_id: str
    score: float
    reasons: list[str] = field(default_factory=list)
    # The part of `score` earned by matching what the question names (author, title, facets).
    bonus: float = 0.0
    # How the question names it: title | author | same_author | facets.
    named: set[str] = field(default_factory=set)
