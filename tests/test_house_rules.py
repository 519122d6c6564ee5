"""Rules of the house that a grep can check: test data has one home, tests import no benchmark."""

import re
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# The simulated processor's test cards: spelled out only by the processor, its own tests and
# folio_testing.data, where every other suite takes them from.
TEST_CARD = re.compile(r"4242[ -]?4242[ -]?4242[ -]?4242|4000[ -]?0000[ -]?0000[ -]?0002")
CARD_HOMES = ("services/payment/", "libs/testing/src/folio_testing/data.py")
IMPORTS_LOADTEST = re.compile(r"^\s*(from|import)\s+loadtest\b", re.MULTILINE)


def _python_files() -> list[str]:
    listed = subprocess.run(["git", "ls-files", "*.py"], cwd=REPO, capture_output=True, text=True, check=True)
    return [path for path in listed.stdout.split() if "_pb2" not in path]


def test_the_test_cards_live_in_folio_testing() -> None:
    spelled = [
        path
        for path in _python_files()
        if not path.startswith(CARD_HOMES) and TEST_CARD.search((REPO / path).read_text())
    ]
    assert spelled == [], "take the test cards from folio_testing.data"


def test_no_test_imports_a_benchmark_module() -> None:
    """loadtest/ is benchmarks and load scenarios; what a test needs of it lives in folio_testing."""
    importing = [
        path
        for path in _python_files()
        if ("tests/" in path or path.endswith("conftest.py"))
        and not path.startswith("loadtest/")
        and IMPORTS_LOADTEST.search((REPO / path).read_text())
    ]
    assert importing == []


def test_the_rules_see_what_they_look_for() -> None:
    # Built, not spelled, so this file passes its own rule.
    assert TEST_CARD.search(f'"number": "{" ".join(["4242"] * 4)}"')
    assert TEST_CARD.search(f"card=Card(number='4000{'0' * 8}0002')")
    assert not TEST_CARD.search("card_last4='4242'")
    assert IMPORTS_LOADTEST.search("import os\nfrom loadtest.bench import locust\n")
    assert not IMPORTS_LOADTEST.search("from folio_testing.locust import run_locust\n")
