"""The seed index cache: reused while its content is the same, rebuilt (once) when it changes."""

from pathlib import Path

import pytest

from folio_testing import assistant_index
from folio_testing.assistant_index import COMPLETE, cached_seed_index, seed_index_key


class Builds:
    """A stand-in for the real ingestion (a minute of work), counting what it was asked to build."""

    def __init__(self) -> None:
        self.dirs: list[Path] = []

    async def __call__(self, data_dir: Path) -> tuple[object, float, float]:
        self.dirs.append(data_dir)
        (data_dir / "assistant").mkdir(parents=True)
        (data_dir / "assistant" / "index").write_text(str(len(self.dirs)))
        return type("Progress", (), {"phase": "done"})(), 0.1, 0.1


@pytest.fixture
def builds(monkeypatch: pytest.MonkeyPatch) -> Builds:
    recorder = Builds()
    monkeypatch.setattr(assistant_index, "build_index", recorder)
    return recorder


def test_the_index_is_built_once_then_taken_from_the_cache(tmp_path: Path, builds: Builds) -> None:
    first = cached_seed_index(tmp_path)
    again = cached_seed_index(tmp_path)

    assert first == again == tmp_path / seed_index_key()
    assert len(builds.dirs) == 1
    assert (first / COMPLETE).exists()
    assert (first / "assistant" / "index").read_text() == "1"


def test_a_change_of_content_builds_a_new_index_and_drops_the_old(
    tmp_path: Path, builds: Builds, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = cached_seed_index(tmp_path)
    changed = tmp_path.parent / "changed.py"
    changed.write_text("a different ingestion")
    sources = list(assistant_index._sources())
    monkeypatch.setattr(assistant_index, "_sources", lambda: [*sources, changed])

    new = cached_seed_index(tmp_path)

    assert new != old
    assert len(builds.dirs) == 2
    assert not old.exists()
    assert [p.name for p in tmp_path.iterdir() if not p.name.startswith(".")] == [new.name]


def test_an_unfinished_build_is_not_taken_for_an_index(tmp_path: Path, builds: Builds) -> None:
    (tmp_path / seed_index_key() / "assistant").mkdir(parents=True)  # a run killed mid-build

    ready = cached_seed_index(tmp_path)

    assert len(builds.dirs) == 1
    assert (ready / COMPLETE).exists()


def test_the_key_covers_the_seed_data_and_the_ingestion_code() -> None:
    names = {p.name for p in assistant_index._sources()}
    assert {"ingest.py", "embeddings.py", "graph.py", "vectors.py", "genres.json", "catalog_pb2.py"} <= names
    assert seed_index_key() == seed_index_key()
