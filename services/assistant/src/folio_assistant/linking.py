"""Entity linking: which authors, titles, genres, eras and nationalities a question names.

Names come from the graph (refreshed after each ingestion) and are matched as whole word
n-grams of the normalised question, so linking costs no backend round trip.
"""

import re
import unicodedata
from collections import defaultdict
from dataclasses import dataclass, field

from folio_assistant.graph import Names

_MAX_NGRAM = 10
# Surnames that name a place or a character more often than the author in a question.
_AMBIGUOUS_SURNAMES = frozenset({"london", "holmes", "paris", "england"})
_STOPWORDS = frozenset(
    [
        "a",
        "an",
        "the",
        "of",
        "and",
        "or",
        "in",
        "on",
        "at",
        "to",
        "by",
        "for",
        "with",
        "from",
        "about",
        "is",
        "are",
        "was",
        "were",
        "be",
        "what",
        "which",
        "who",
        "whom",
        "whose",
        "books",
        "book",
        "novel",
        "novels",
        "written",
        "write",
        "wrote",
        "other",
        "any",
        "some",
        "me",
        "recommend",
        "like",
    ]
)
# Genre ids of the seed catalog -> extra words people use for them.
_GENRE_WORDS = {
    "science-fiction": ("science fiction", "sci fi", "scifi"),
    "gothic-horror": ("gothic", "horror", "ghost stories"),
    "crime-mystery": ("crime", "mystery", "mysteries", "detective", "detectives"),
    "humour-satire": ("humour", "humor", "satire", "comic", "funny"),
    "mythology-epic": ("mythology", "myths", "epic", "epics"),
    "childrens": ("children", "childrens", "kids"),
    "drama": ("play", "plays", "drama", "tragedy", "tragedies"),
    "poetry": ("poems", "poetry", "poem", "verse"),
    "short-stories": ("short stories", "short story"),
    "non-fiction": ("non fiction", "nonfiction", "essays"),
    "literary-fiction": ("literary fiction",),
    "historical": ("historical", "historical fiction"),
    "war": ("war",),
    "travel": ("travel", "travel writing"),
    "romance": ("romance", "love stories"),
    "philosophy": ("philosophy",),
    "fantasy": ("fantasy",),
    "adventure": ("adventure", "adventures"),
}
# Words that ask for a list or for the author, rather than describe a book.
_REQUEST_WORDS = frozenset(
    [
        "show",
        "list",
        "have",
        "has",
        "do",
        "does",
        "did",
        "you",
        "your",
        "shop",
        "store",
        "stock",
        "available",
        "works",
        "work",
        "titles",
        "writings",
        "writer",
        "author",
        "authors",
        "his",
        "her",
        "their",
        "them",
        "they",
        "it",
        "its",
        "else",
        "more",
        "also",
        "another",
        "all",
        "every",
        "find",
        "give",
        "tell",
        "please",
        "can",
        "could",
        "would",
        "i",
        "my",
        "want",
        "read",
        "reading",
        "by",
        "written",
    ]
)
_OTHERS = frozenset({"other", "others", "else", "more", "another"})
_ERA_WORDS = {
    "Antiquity": ("ancient", "antiquity", "classical antiquity"),
    "Middle Ages": ("medieval", "middle ages"),
    "Early modern": ("renaissance", "early modern", "16th century", "17th century", "18th century"),
    "19th century": ("19th century", "nineteenth century", "victorian", "1800s"),
    "20th century": ("20th century", "twentieth century", "1900s", "modernist"),
}


def _words(text: str) -> list[str]:
    """Words with accents, punctuation and possessives gone, case kept."""
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    text = re.sub(r"['\u2019]s\b", "", text)
    return re.sub(r"[^A-Za-z0-9]+", " ", text).split()


def normalise(text: str) -> str:
    """Lower case, accents and punctuation gone, single spaces: 'Moby-Dick' -> 'moby dick'."""
    return " ".join(_words(text)).lower()


@dataclass
class Links:
    author_ids: list[str] = field(default_factory=list)
    book_ids: list[str] = field(default_factory=list)
    genre_ids: list[str] = field(default_factory=list)
    eras: list[str] = field(default_factory=list)
    nationalities: list[str] = field(default_factory=list)
    # What the question asks beyond the names: other books than the one named ("what else..."),
    # who wrote something, and how many words describe a book (plot, setting) rather than name one.
    wants_others: bool = False
    asks_who: bool = False
    describing_words: int = 0

    @property
    def entities(self) -> bool:
        """True when the question names an author or a title (not just a facet)."""
        return bool(self.author_ids or self.book_ids)

    @property
    def any(self) -> bool:
        return bool(self.author_ids or self.book_ids or self.genre_ids or self.eras or self.nationalities)


class Gazetteer:
    """Phrase -> ids lookups for every name the graph knows."""

    def __init__(self, names: Names, genres: dict[str, str] | None = None) -> None:
        self.authors: dict[str, set[str]] = defaultdict(set)
        self.titles: dict[str, set[str]] = defaultdict(set)
        self.genres: dict[str, set[str]] = defaultdict(set)
        self.eras: dict[str, str] = {}
        self.nationalities: dict[str, str] = {}
        surnames: dict[str, set[str]] = defaultdict(set)
        self.surnames: dict[str, set[str]] = {}
        for author_id, name in names.authors.items():
            key = normalise(name)
            self.authors[key].add(author_id)
            parts = key.split()
            if len(parts) > 1 and len(parts[-1]) >= 4:
                surnames[parts[-1]].add(author_id)
        for surname, ids in surnames.items():
            # "Shelley" names two authors: link both, the question's other words decide.
            if surname not in _STOPWORDS and surname not in _AMBIGUOUS_SURNAMES and len(ids) <= 2:
                self.surnames[surname] = ids
        for book_id, title in names.titles.items():
            # "Moby-Dick; or, The Whale" is asked about as "Moby-Dick"; "Orlando: A Biography" as "Orlando".
            keys = {normalise(title), normalise(re.split(r"[;:(]|, or\b", title)[0])}
            variants = keys | {re.sub(r"^(the|a|an) ", "", key) for key in keys}
            for variant in variants:
                # One short common word ("Poems") is no title reference.
                if len(variant) >= 4 and variant not in _STOPWORDS:
                    self.titles[variant].add(book_id)
        self.titles = defaultdict(set, {k: v for k, v in self.titles.items() if len(v) <= 3})
        for genre_id, words in _GENRE_WORDS.items():
            for word in words:
                self.genres[word].add(genre_id)
        for genre_id, name in (genres or {}).items():
            self.genres[normalise(name)].add(genre_id)
        # A title that is also a genre or nationality word ("Poems", "The American") says that, not the book.
        for word in [*self.genres, *(normalise(n) for n in names.nationalities)]:
            self.titles.pop(word, None)
        for era, words in _ERA_WORDS.items():
            for word in words:
                self.eras[word] = era
        for nationality in names.nationalities:
            self.nationalities[normalise(nationality)] = nationality

    def link(self, question: str) -> Links:
        """The ids a question names; longer phrases win over the words inside them.

        A title of one or two words or a bare surname counts only when capitalised ("The Jungle",
        "Kafka"), so "a boy in the jungle" or "his mother" name no book.
        """
        original = _words(question)
        words = [w.lower() for w in original]
        links = Links()
        covered = [False] * len(words)
        for size in range(min(_MAX_NGRAM, len(words)), 0, -1):
            for start in range(len(words) - size + 1):
                if any(covered[start : start + size]):
                    continue
                phrase = " ".join(words[start : start + size])
                span = original[start : start + size]
                proper = size > 2 or any(w[:1].isupper() for w in span if w.lower() not in ("the", "a", "an"))
                hit = False
                if phrase in self.titles and proper:
                    links.book_ids.extend(sorted(self.titles[phrase] - set(links.book_ids)))
                    hit = True
                if phrase in self.authors:
                    links.author_ids.extend(sorted(self.authors[phrase] - set(links.author_ids)))
                    hit = True
                elif phrase in self.surnames and proper:
                    links.author_ids.extend(sorted(self.surnames[phrase] - set(links.author_ids)))
                    hit = True
                if phrase in self.genres:
                    links.genre_ids.extend(sorted(self.genres[phrase] - set(links.genre_ids)))
                    hit = True
                if phrase in self.eras and self.eras[phrase] not in links.eras:
                    links.eras.append(self.eras[phrase])
                    hit = True
                if phrase in self.nationalities and self.nationalities[phrase] not in links.nationalities:
                    links.nationalities.append(self.nationalities[phrase])
                    hit = True
                if hit:
                    covered[start : start + size] = [True] * size
        links.wants_others = bool(_OTHERS & set(words))
        links.asks_who = "who" in words
        links.describing_words = sum(
            1
            for word, done in zip(words, covered, strict=True)
            if not done
            and len(word) > 1
            and word not in _STOPWORDS
            and word not in _REQUEST_WORDS
            and word not in _OTHERS
        )
        return links
