"""The bundled seed catalog (real public-domain books) and a synthetic generator for benchmarks."""

import json
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from importlib import resources

from folio_catalog.repository import AuthorRecord, BookRecord, CatalogRepository, GenreRecord

log = logging.getLogger(__name__)
CURRENCY = "USD"


@dataclass(frozen=True)
class SeedCatalog:
    genres: list[GenreRecord]
    authors: list[AuthorRecord]
    books: list[BookRecord]


def _jsonl(name: str) -> list[dict[str, object]]:
    text = resources.files(__package__).joinpath("data", name).read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def _data_files(prefix: str) -> list[str]:
    folder = resources.files(__package__).joinpath("data")
    return sorted(f.name for f in folder.iterdir() if f.name.startswith(prefix) and f.name.endswith(".jsonl"))


def load_seed_catalog() -> SeedCatalog:
    """Read and check the bundled data: every reference resolves and every id is unique."""
    data = resources.files(__package__).joinpath("data")
    genres = [
        GenreRecord(g["id"], g["name"], g["description"])
        for g in json.loads(data.joinpath("genres.json").read_text())
    ]
    featured = set(json.loads(data.joinpath("featured.json").read_text()))
    authors = [
        AuthorRecord(
            id=str(a["id"]),
            name=str(a["name"]),
            born=a.get("born"),  # type: ignore[arg-type]
            died=a.get("died"),  # type: ignore[arg-type]
            nationality=str(a.get("nationality") or ""),
            bio=str(a.get("bio") or ""),
        )
        for name in _data_files("authors_")
        for a in _jsonl(name)
    ]
    author_names = {a.id: a.name for a in authors}
    genre_names = {g.id: g.name for g in genres}
    books = []
    for name in _data_files("books_"):
        for b in _jsonl(name):
            author_id = str(b["author_id"])
            books.append(
                BookRecord(
                    id=str(b["id"]),
                    title=str(b["title"]),
                    author_id=author_id,
                    author_name=author_names[author_id],
                    year=int(b["year"]),  # type: ignore[call-overload]
                    language=str(b["language"]),
                    genres=tuple((str(g), genre_names[str(g)]) for g in b["genres"]),  # type: ignore[attr-defined]
                    description=str(b["description"]),
                    price_minor=int(Decimal(str(b["price"])) * 100),
                    currency_code=CURRENCY,
                    stock=int(b["stock"]),  # type: ignore[call-overload]
                    featured=str(b["id"]) in featured,
                )
            )
    _check_unique("author", [a.id for a in authors])
    _check_unique("book", [b.id for b in books])
    return SeedCatalog(genres, authors, books)


async def load_seed(
    repository: CatalogRepository,
    catalog: SeedCatalog | None = None,
    *,
    batch_size: int = 500,
    progress: Callable[[int], object] | None = None,
) -> int:
    """Add the books of `catalog` (the bundled seed by default) that are missing, with their genres and
    authors; returns how many books were added. Books already there keep their stock.

    Books go in `batch_size` at a time, each batch its own transaction, so `progress` (told how many
    books each batch covered) can drive a progress bar; a run cut short is finished by the next one.
    """
    catalog = catalog or load_seed_catalog()
    added = await repository.add_missing(genres=catalog.genres, authors=catalog.authors, books=[])
    for start in range(0, len(catalog.books), batch_size):
        batch = catalog.books[start : start + batch_size]
        added += await repository.add_missing(genres=[], authors=[], books=batch)
        if progress is not None:
            progress(len(batch))
    log.info("seed catalog loaded", extra={"added_books": added, "seed_books": len(catalog.books)})
    return added


def _check_unique(kind: str, ids: list[str]) -> None:
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise ValueError(f"seed data has duplicate {kind} ids: {duplicates}")


_ADJECTIVES = [
    "Silent",
    "Crimson",
    "Hidden",
    "Last",
    "Northern",
    "Broken",
    "Golden",
    "Distant",
    "Winter",
    "Secret",
    "Burning",
    "Lost",
    "Quiet",
    "Iron",
    "Painted",
    "Drowned",
    "Bright",
    "Hollow",
    "Wandering",
    "Final",
]
_NOUNS = [
    "Harbour",
    "Garden",
    "Lighthouse",
    "Kingdom",
    "Letter",
    "Orchard",
    "Voyage",
    "Archive",
    "Mountain",
    "River",
    "Clockmaker",
    "Island",
    "Cathedral",
    "Map",
    "Circus",
    "Forest",
    "Observatory",
    "Bridge",
    "Inheritance",
    "Storm",
]
_PLOTS = [
    "a young clerk uncovers a forged will",
    "two sisters sail north in search of their father",
    "a village doctor keeps a dangerous secret",
    "an exiled prince learns a trade",
    "a detective follows a trail of pawned watches",
    "a widow rebuilds a ruined vineyard",
    "a crew is stranded on an uncharted reef",
    "a schoolteacher records the last songs of a valley",
    "rival astronomers race to name a comet",
    "a soldier walks home across a continent at war",
]
_FIRST = [
    "Ada",
    "Bram",
    "Clara",
    "Dmitri",
    "Elena",
    "Felix",
    "Greta",
    "Hugo",
    "Ines",
    "Jonas",
    "Karin",
    "Leo",
]
_LAST = [
    "Ashdown",
    "Bellamy",
    "Corvin",
    "Dalloway",
    "Everly",
    "Fairbank",
    "Grey",
    "Holloway",
    "Ivers",
    "Jarrow",
]


def synthetic_catalog(count: int, *, seed: int = 42, genres: list[GenreRecord]) -> SeedCatalog:
    """`count` invented books (ids `synthetic-…`) for load tests; the same seed gives the same books."""
    rng = random.Random(seed)
    authors = [
        AuthorRecord(
            id=f"synthetic-author-{i:04d}",
            name=f"{rng.choice(_FIRST)} {rng.choice(_LAST)} {i}",
            nationality="Invented",
            bio="A synthetic author generated for load testing.",
        )
        for i in range(max(1, count // 20))
    ]
    books = []
    for i in range(count):
        author = authors[i % len(authors)]
        picked = rng.sample(genres, k=min(len(genres), rng.randint(1, 3)))
        title = f"The {rng.choice(_ADJECTIVES)} {rng.choice(_NOUNS)}"
        books.append(
            BookRecord(
                id=f"synthetic-{i:06d}",
                title=f"{title} {i}",
                author_id=author.id,
                author_name=author.name,
                year=rng.randint(1700, 1929),
                language=rng.choice(["en", "fr", "de", "es", "it", "ru"]),
                genres=tuple((g.id, g.name) for g in picked),
                description=f"In {title.lower()}, {rng.choice(_PLOTS)}, and {rng.choice(_PLOTS)}.",
                price_minor=rng.randint(299, 2999),
                currency_code=CURRENCY,
                stock=rng.randint(0, 60),
            )
        )
    return SeedCatalog([], authors, books)
