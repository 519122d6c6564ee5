"""Lexical retrieval: BM25 over each book's words (title, author, genres, period, description), in memory.

Dense vectors find paraphrases; words find what an embedding of a short passage blurs — a rare name
or object ("windmills", "suitors", "Yorkshire"). The index is built from the graph (one query, with
the names entity linking reads) and searched in process, so it adds no backend round trip.
"""

import math
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass

import numpy as np

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
    """BM25 over book texts; rebuilt whole after an ingestion (about 30 ms per 1,000 books).

    Postings are two flat arrays (book rows, and each posting's BM25 weight without the idf), a term
    naming its slice: at 100,000 books that is tens of megabytes where a list of tuples per term took
    hundreds, and a query adds whole slices into one score array instead of looping over postings."""

    def __init__(self, texts: dict[str, str]) -> None:
        self._ids = list(texts)
        # Each row's place among the book ids in sorted order: ties in score break by id.
        self._id_order = np.empty(len(self._ids), dtype=np.int64)
        self._id_order[sorted(range(len(self._ids)), key=self._ids.__getitem__)] = np.arange(len(self._ids))
        term_ids: dict[str, int] = {}
        posting_terms: list[int] = []
        posting_rows: list[int] = []
        posting_counts: list[int] = []
        lengths: list[int] = []
        for row, book_id in enumerate(self._ids):
            counts = Counter(terms(texts[book_id]))
            lengths.append(sum(counts.values()))
            for term, count in counts.items():
                posting_terms.append(term_ids.setdefault(term, len(term_ids)))
                posting_rows.append(row)
                posting_counts.append(count)
        average = (sum(lengths) / len(lengths)) if lengths else 1.0
        order = np.argsort(np.asarray(posting_terms, dtype=np.int64), kind="stable")
        rows = np.asarray(posting_rows, dtype=np.int32)[order]
        counts_array = np.asarray(posting_counts, dtype=np.float64)[order]
        norms = K1 * (1 - B + B * np.asarray(lengths, dtype=np.float64) / average)
        self._rows = rows
        self._weights = counts_array * (K1 + 1) / (counts_array + norms[rows]) if len(rows) else counts_array
        ends = np.cumsum(np.bincount(np.asarray(posting_terms, dtype=np.int64), minlength=len(term_ids)))
        total = len(self._ids)
        # term -> (idf, first posting, end of its postings)
        self._terms: dict[str, tuple[float, int, int]] = {}
        for term, term_id in term_ids.items():
            begin, end = (int(ends[term_id - 1]) if term_id else 0), int(ends[term_id])
            documents = end - begin
            idf = math.log(1 + (total - documents + 0.5) / (documents + 0.5))
            self._terms[term] = (idf, begin, end)

    def __len__(self) -> int:
        return len(self._ids)

    def search(self, text: str, *, limit: int) -> list[LexicalHit]:
        """The best `limit` books for the words of `text`, scores scaled so the best is 1."""
        scores = np.zeros(len(self._ids), dtype=np.float64)
        for term in set(terms(text)):
            found = self._terms.get(term)
            if found is not None:
                idf, begin, end = found
                scores[self._rows[begin:end]] += idf * self._weights[begin:end]
        matched = np.flatnonzero(scores)
        if not len(matched) or limit <= 0:
            return []
        if len(matched) > limit:
            # The limit-th best score; of the books tied with it, those first by id (as sorted below).
            kth = np.partition(scores[matched], len(matched) - limit)[len(matched) - limit]
            above = matched[scores[matched] > kth]
            tied = matched[scores[matched] == kth]
            wanted = limit - len(above)
            if len(tied) > wanted:
                tied = tied[np.argpartition(self._id_order[tied], wanted - 1)[:wanted]]
            matched = np.concatenate([above, tied])
        best = sorted(
            ((float(scores[row]), int(row)) for row in matched), key=lambda s: (-s[0], self._ids[s[1]])
        )
        top = best[0][0]
        return [LexicalHit(self._ids[row], score / top) for score, row in best]
