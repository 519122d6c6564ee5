"""Lexical retrieval: BM25 over each book's words (title, author, genres, period, description), in memory.

Dense vectors find paraphrases; words find what an embedding of a short passage blurs — a rare name
or object ("windmills", "suitors", "Yorkshire"). The index is built from the graph (one query, with
the names entity linking reads) and searched in process, so it adds no backend round trip.
"""

import math
import re
import unicodedata
from collections import Counter, defaultdict
from dataclasses import dataclass

K1 = 1.2
B = 0.75
_STOPWORDS = frozenset(
    [
        "a",
        "about",
        "after",
        "against",
        "all",
        "also",
        "an",
        "and",
        "any",
        "are",
        "as",
        "at",
        "be",
        "been",
        "before",
        "being",
        "but",
        "by",
        "can",
        "could",
        "did",
        "do",
        "does",
        "for",
        "from",
        "had",
        "has",
        "have",
        "he",
        "her",
        "hers",
        "him",
        "his",
        "how",
        "i",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "me",
        "more",
        "most",
        "my",
        "no",
        "not",
        "of",
        "on",
        "one",
        "or",
        "other",
        "our",
        "out",
        "over",
        "she",
        "so",
        "some",
        "such",
        "than",
        "that",
        "the",
        "their",
        "them",
        "then",
        "there",
        "these",
        "they",
        "this",
        "those",
        "through",
        "to",
        "too",
        "under",
        "until",
        "up",
        "very",
        "was",
        "we",
        "were",
        "what",
        "when",
        "where",
        "which",
        "while",
        "who",
        "whom",
        "whose",
        "why",
        "will",
        "with",
        "would",
        "you",
        "your",
        "book",
        "books",
        "novel",
        "novels",
        "story",
        "stories",
        "written",
        "wrote",
        "write",
    ]
)


def _stem(word: str) -> str:
    """A light suffix strip so "windmills" meets "windmill" and "arrested" meets "arrest"."""
    for suffix, keep in (("ies", "y"), ("sses", "ss"), ("ing", ""), ("ed", ""), ("es", ""), ("s", "")):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3 and not word.endswith("ss"):
            return word[: -len(suffix)] + keep
    return word


def terms(text: str) -> list[str]:
    """The indexed terms of a text: lower case, accents gone, stop words dropped, lightly stemmed."""
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    text = re.sub(r"['\u2019]s\b", "", text)
    return [_stem(w) for w in re.findall(r"[a-z0-9]+", text) if w not in _STOPWORDS and len(w) > 1]


@dataclass(frozen=True)
class LexicalHit:
    book_id: str
    score: float  # BM25, relative to the best hit of the same query (0-1]


class LexicalIndex:
    """BM25 over book texts; rebuilt whole after an ingestion (about 10 ms per 1,000 books)."""

    def __init__(self, texts: dict[str, str]) -> None:
        self._ids = list(texts)
        self._postings: dict[str, list[tuple[int, int]]] = defaultdict(list)
        lengths = []
        for row, book_id in enumerate(self._ids):
            counts = Counter(terms(texts[book_id]))
            lengths.append(sum(counts.values()))
            for term, count in counts.items():
                self._postings[term].append((row, count))
        self._lengths = lengths
        self._average = (sum(lengths) / len(lengths)) if lengths else 1.0
        total = len(self._ids)
        self._idf = {
            term: math.log(1 + (total - len(rows) + 0.5) / (len(rows) + 0.5))
            for term, rows in self._postings.items()
        }

    def __len__(self) -> int:
        return len(self._ids)

    def search(self, text: str, *, limit: int) -> list[LexicalHit]:
        """The best `limit` books for the words of `text`, scores scaled so the best is 1."""
        scores: dict[int, float] = defaultdict(float)
        for term in set(terms(text)):
            idf = self._idf.get(term)
            if idf is None:
                continue
            for row, count in self._postings[term]:
                norm = K1 * (1 - B + B * self._lengths[row] / self._average)
                scores[row] += idf * count * (K1 + 1) / (count + norm)
        if not scores:
            return []
        best = sorted(scores.items(), key=lambda item: (-item[1], self._ids[item[0]]))[:limit]
        top = best[0][1]
        return [LexicalHit(self._ids[row], score / top) for row, score in best]
