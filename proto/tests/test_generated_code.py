"""The checked-in generated code must match what `make proto` produces now."""

import filecmp
import subprocess
import sys
from pathlib import Path

PROTO_ROOT = Path(__file__).resolve().parents[1]


def _files(root: Path) -> set[Path]:
    return {p.relative_to(root) for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts}


def test_generated_code_is_up_to_date(tmp_path: Path) -> None:
    subprocess.run([sys.executable, str(PROTO_ROOT / "generate.py"), "--out", str(tmp_path)], check=True)
    committed = PROTO_ROOT / "src"
    expected, actual = _files(tmp_path), _files(committed)
    assert expected == actual, "generated files differ from proto/src: run `make proto`"
    stale = [str(p) for p in sorted(expected) if not filecmp.cmp(tmp_path / p, committed / p, shallow=False)]
    assert not stale, f"stale generated code in proto/src (run `make proto`): {stale}"


def test_generated_package_imports() -> None:
    from folio.catalog.v1 import catalog_pb2, catalog_pb2_grpc

    book = catalog_pb2.Book(id="moby-dick", title="Moby-Dick")
    assert catalog_pb2.Book.FromString(book.SerializeToString()).title == "Moby-Dick"
    assert hasattr(catalog_pb2_grpc, "CatalogServiceStub")
