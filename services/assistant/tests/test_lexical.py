"""BM25 over book texts: rare words find their book, the best scores 1, ties break by book id."""

import pytest

from folio_assistant.lexical import LexicalIndex, terms

TEXTS = {
    "quixote": "Don Quixote, a gentleman who tilts at windmills, rides out with Sancho Panza.",
    "odyssey": "Odysseus sails home for ten years while suitors crowd his house in Ithaca.",
    "heights": "Wuthering Heights: love and revenge on the Yorkshire moors.",
    "emma": "Emma Woodhouse meddles in the love lives of her neighbours.",
    "persuasion": "Anne Elliot meets again the captain she was persuaded to refuse, years later.",
}


@pytest.fixture(scope="module")
def index() -> LexicalIndex:
    return LexicalIndex(TEXTS)


def test_a_rare_word_finds_its_book_first_with_the_top_score(index: LexicalIndex) -> None:
    hits = index.search("the one with the windmill", limit=3)
    assert [h.book_id for h in hits] == ["quixote"]
    assert hits[0].score == 1.0
    assert index.search("suitors in Ithaca", limit=5)[0].book_id == "odyssey"


def test_scores_are_relative_to_the_best_and_the_limit_holds(index: LexicalIndex) -> None:
    hits = index.search("love on the Yorkshire moors", limit=1)
    assert [h.book_id for h in hits] == ["heights"]
    both = index.search("love on the Yorkshire moors", limit=5)
    assert [h.book_id for h in both] == ["heights", "emma"]
    assert 0 < both[1].score < both[0].score == 1.0


def test_equal_scores_come_in_book_id_order_whatever_the_limit() -> None:
    twins = LexicalIndex({f"book-{n}": "a lighthouse keeper" for n in (5, 3, 9, 1, 7)})
    assert [h.book_id for h in twins.search("lighthouse", limit=2)] == ["book-1", "book-3"]
    assert [h.book_id for h in twins.search("lighthouse", limit=10)] == [f"book-{n}" for n in (1, 3, 5, 7, 9)]


def test_no_known_word_no_hits(index: LexicalIndex) -> None:
    assert index.search("zeppelin", limit=5) == []
    assert index.search("the of and", limit=5) == []
    assert LexicalIndex({}).search("windmills", limit=5) == []


def test_terms_fold_case_accents_plurals_and_possessives() -> None:
    assert terms("Brontë's Windmills and the ARRESTED") == ["bronte", "windmill", "arrest"]
