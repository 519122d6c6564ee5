"""Every Markdown file in the repository renders as its author meant: whole tables, no repeated text.

The documents are parsed by markdown-it-py (CommonMark plus GitHub's tables), the way GitHub shows them.
"""

import re
import subprocess
from collections import Counter
from pathlib import Path

import pytest
from markdown_it import MarkdownIt
from markdown_it.token import Token

REPO = Path(__file__).resolve().parents[1]
DOCS = sorted(
    REPO / name
    for name in subprocess.run(
        ["git", "ls-files", "*.md"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.split()
)
# A sentence this long said twice in one document is a copy, not a refrain.
MIN_REPEATED_WORDS = 8
# History belongs to git: a doc or comment says what is, not which issue brought it or what is to come.
HISTORY = re.compile(r"\bissues? #?\d+|\bnot yet\b(?! valid)|\blater issues?\b|helm/pending", re.IGNORECASE)
# git pathspecs: `*` also matches `/`, so each pattern reaches every folder.
TEXT_FILES = (
    "*.md",
    "*.py",
    "*.pyi",
    "*.proto",
    "*.yaml",
    "*.yml",
    "*.tpl",
    "*.toml",
    "*.sh",
    "*.json",
    "*Makefile",
    "*Dockerfile",
)


def parse(text: str) -> list[Token]:
    return MarkdownIt("commonmark").enable("table").parse(text)


def cells(row: str) -> list[str]:
    """A table row's cells, split as GitHub splits them: on every pipe not escaped by a backslash."""
    row = row.strip()
    row = row.removeprefix("|")
    if row.endswith("|") and not row.endswith("\\|"):
        row = row[:-1]
    return re.split(r"(?<!\\)\|", row)


def table_problems(text: str) -> list[str]:
    """Rows whose cell count differs from their header's, and rows that fell out of a table."""
    lines = text.splitlines()
    problems = []
    tokens = parse(text)
    for index, token in enumerate(tokens):
        if token.type == "table_open" and token.map:
            start, end = token.map
            width = len(cells(lines[start]))
            for number in range(start + 2, end):
                if lines[number].strip() and len(cells(lines[number])) != width:
                    problems.append(
                        f"line {number + 1}: {len(cells(lines[number]))} cells under a {width}-cell header"
                    )
        elif token.type == "inline" and tokens[index - 1].type == "paragraph_open":
            # A paragraph made of pipe rows: table rows cut off from their header by a blank line or
            # text, or a table whose delimiter row is missing; GitHub shows them as a run of pipes.
            first = token.content.splitlines()[0].strip()
            if first.startswith("|") and first.endswith("|") and first.count("|") >= 3:
                problems.append(f"line {token.map[0] + 1 if token.map else '?'}: table rows outside a table")
    return problems


def repeated_sentences(text: str) -> list[str]:
    """Sentences of prose (paragraphs and list items, not code or tables) said twice in one document."""
    tokens = parse(text)
    sentences: Counter[str] = Counter()
    in_table = False
    for index, token in enumerate(tokens):
        in_table = (in_table or token.type == "table_open") and token.type != "table_close"
        if in_table or token.type != "inline" or tokens[index - 1].type != "paragraph_open":
            continue
        prose = " ".join(token.content.split())
        for sentence in re.split(r"(?<=[.!?:;])\s+", prose):
            if len(sentence.split()) >= MIN_REPEATED_WORDS:
                sentences[sentence] += 1
    return [f"said {count} times: {sentence!r}" for sentence, count in sentences.items() if count > 1]


@pytest.mark.parametrize("doc", DOCS, ids=[str(d.relative_to(REPO)) for d in DOCS])
def test_tables_render_whole(doc: Path) -> None:
    assert table_problems(doc.read_text()) == []


@pytest.mark.parametrize("doc", DOCS, ids=[str(d.relative_to(REPO)) for d in DOCS])
def test_no_sentence_is_said_twice(doc: Path) -> None:
    assert repeated_sentences(doc.read_text()) == []


def test_the_readme_layout_lists_every_top_level_folder_once() -> None:
    readme = (REPO / "README.md").read_text()
    layout = readme.split("## Layout", 1)[1].split("```", 2)[1]
    entries = [line.split()[0] for line in layout.splitlines() if line.strip()]
    listed = Counter(entry.rstrip("/") for entry in entries if entry.endswith("/"))
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.split()
    folders = {path.split("/")[0] for path in tracked if "/" in path}
    assert {name: count for name, count in listed.items() if count > 1} == {}
    assert sorted(folders - set(listed)) == []
    assert sorted(set(listed) - folders) == []


def test_docs_and_comments_carry_no_history() -> None:
    tracked = subprocess.run(
        ["git", "ls-files", *TEXT_FILES],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    found = [
        f"{path}:{number}: {line.strip()}"
        for path in sorted(set(tracked))
        # This file names the patterns it looks for.
        if not path.endswith(("package-lock.json", "tests/test_docs.py"))
        for number, line in enumerate((REPO / path).read_text(errors="replace").splitlines(), 1)
        if HISTORY.search(line)
    ]
    assert found == []


def test_the_checks_catch_what_they_are_for() -> None:
    """The detectors themselves: a cut table, a short row, a doubled sentence."""
    table = "| a | b |\n|---|---|\n| 1 | 2 |\n"
    assert table_problems(table) == []
    assert table_problems("| a | b |\n|---|---|\n| 1 | 2 | 3 |\n") == [
        "line 3: 3 cells under a 2-cell header"
    ]
    assert table_problems(table + "\n| 3 | 4 |\n") == ["line 5: table rows outside a table"]
    assert table_problems("| a | `x \\| y` |\n|---|---|\n| 1 | 2 |\n") == []
    said = "Every service's log lines arrive in one coloured, prefixed stream."
    assert repeated_sentences(f"One. {said}\n\nTwo. {said}\n") == [f"said 2 times: {said!r}"]
    assert repeated_sentences(f"```\n{said}\n{said}\n```\n") == []
    assert [
        HISTORY.search(t) is not None for t in ("(issue 8)", "not yet built", "a not yet valid token")
    ] == [
        True,
        True,
        False,
    ]
