"""Entity linking: names in a question -> ids, without a backend call."""

import pytest

from folio_assistant.graph import Names
from folio_assistant.linking import Gazetteer, normalise

NAMES = Names(
    authors={
        "herman-melville": "Herman Melville",
        "mary-shelley": "Mary Shelley",
        "percy-bysshe-shelley": "Percy Bysshe Shelley",
        "fyodor-dostoevsky": "Fyodor Dostoevsky",
    },
    nationalities={"Russian", "American"},
    titles={
        "moby-dick": "Moby-Dick; or, The Whale",
        "orlando": "Orlando: A Biography",
        "war-and-peace": "War and Peace",
        "poems-a": "Poems",
        "the-idiot": "The Idiot",
    },
)


@pytest.fixture(scope="module")
def gazetteer() -> Gazetteer:
    return Gazetteer(NAMES)


def test_normalise_drops_case_accents_punctuation_and_possessives() -> None:
    assert normalise("Brontë's  Moby-Dick!") == "bronte moby dick"


@pytest.mark.parametrize(
    ("question", "books"),
    [
        ("What else did the author of Moby-Dick write?", ["moby-dick"]),
        ("Tell me about Orlando", ["orlando"]),
        ("is war and peace long?", ["war-and-peace"]),
        ("something like The Idiot", ["the-idiot"]),
        ("he is an idiot", []),  # a short title counts only when capitalised
        ("any poems about the sea?", []),  # a one-word common title is no reference
    ],
)
def test_titles_are_found_with_or_without_subtitles(
    gazetteer: Gazetteer, question: str, books: list[str]
) -> None:
    assert gazetteer.link(question).book_ids == books


def test_authors_by_full_name_and_by_surname(gazetteer: Gazetteer) -> None:
    assert gazetteer.link("books by Herman Melville").author_ids == ["herman-melville"]
    assert gazetteer.link("novels by Dostoevsky").author_ids == ["fyodor-dostoevsky"]
    assert gazetteer.link("novels by dostoevsky").author_ids == []  # a bare surname must be capitalised
    # An ambiguous surname links both; the full name links one.
    assert gazetteer.link("Shelley's poems").author_ids == ["mary-shelley", "percy-bysshe-shelley"]
    assert gazetteer.link("by Mary Shelley").author_ids == ["mary-shelley"]


def test_genres_eras_and_nationalities(gazetteer: Gazetteer) -> None:
    links = gazetteer.link("Victorian ghost stories or Russian science fiction")
    assert links.genre_ids == ["gothic-horror", "science-fiction"]
    assert links.eras == ["19th century"]
    assert links.nationalities == ["Russian"]
    assert not links.entities


def test_longest_phrase_wins(gazetteer: Gazetteer) -> None:
    links = gazetteer.link("war and peace")
    assert links.book_ids == ["war-and-peace"]
    assert links.genre_ids == []  # "war" is inside the title, not a genre here


def test_a_question_naming_nothing_links_nothing(gazetteer: Gazetteer) -> None:
    assert not gazetteer.link("a sea voyage that goes wrong").any
