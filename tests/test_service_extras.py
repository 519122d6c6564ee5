"""Every service declares the platform extras (`folio-platform[sql,redis,nacos]`) whose packages its
code reaches, and no other: an image installs what its service imports, and nothing more.

What a service reaches is read from the code: its own imports and those of every platform module it
imports, followed through the platform (an import inside a function counts: it runs when that
function does). An import guarded by `except ImportError`, or only for type checking, is optional.
"""

import ast
import functools
import tomllib
from collections.abc import Iterator
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest
from packaging.requirements import Requirement

REPO = Path(__file__).resolve().parents[1]
PLATFORM = REPO / "libs" / "platform"
PLATFORM_SRC = PLATFORM / "src"
SERVICES = sorted(p.parent for p in (REPO / "services").glob("*/pyproject.toml"))


@functools.cache
def _extra_modules() -> dict[str, set[str]]:
    """extra -> the top-level modules only its distributions provide (`sqlalchemy`, `redis`, `v2`)."""
    extras = tomllib.loads((PLATFORM / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    providers = packages_distributions()
    found: dict[str, set[str]] = {}
    for extra, requirements in extras.items():
        names = {Requirement(r).name.lower() for r in requirements}
        found[extra] = {
            module
            for module, distributions in providers.items()
            if {d.lower() for d in distributions} <= names
        }
    return found


def _optional(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> bool:
    """Inside `try: ... except ImportError` or `if TYPE_CHECKING:`."""
    child, parent = node, parents.get(node)
    while parent is not None:
        if isinstance(parent, ast.Try) and child in parent.body:
            caught = {ast.unparse(h.type) for h in parent.handlers if h.type is not None}
            if caught & {"ImportError", "ModuleNotFoundError", "(ImportError, ModuleNotFoundError)"}:
                return True
        if isinstance(parent, ast.If) and "TYPE_CHECKING" in ast.unparse(parent.test):
            return True
        child, parent = parent, parents.get(parent)
    return False


def _imports(path: Path) -> Iterator[str]:
    """Every module `path` imports, at any depth, unless optionally."""
    tree = ast.parse(path.read_text(), filename=str(path))
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    for node in ast.walk(tree):
        if _optional(node, parents):
            continue
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module
            # `from folio_platform import database` imports the module folio_platform.database.
            yield from (f"{node.module}.{alias.name}" for alias in node.names)


def _platform_file(module: str) -> Path | None:
    base = PLATFORM_SRC.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def reached(files: list[Path]) -> set[str]:
    """Top-level modules imported by `files` and by the platform modules they reach."""
    seen_files, todo, top = set(files), list(files), set()
    while todo:
        for module in _imports(todo.pop()):
            top.add(module.split(".")[0])
            platform = _platform_file(module) if module.startswith("folio_platform") else None
            if platform is not None and platform not in seen_files:
                seen_files.add(platform)
                todo.append(platform)
    return top


def declared_extras(service: Path) -> set[str]:
    dependencies = tomllib.loads((service / "pyproject.toml").read_text())["project"]["dependencies"]
    platform = [Requirement(d) for d in dependencies if Requirement(d).name == "folio-platform"]
    assert platform, f"{service.name} does not depend on folio-platform"
    return set(platform[0].extras)


def needed_extras(service: Path, extra_modules: dict[str, set[str]]) -> set[str]:
    imported = reached(sorted((service / "src").rglob("*.py")))
    return {extra for extra, modules in extra_modules.items() if imported & modules}


@pytest.mark.parametrize("service", SERVICES, ids=lambda p: p.name)
def test_a_service_declares_exactly_the_platform_extras_its_code_reaches(service: Path) -> None:
    extra_modules = _extra_modules()
    assert needed_extras(service, extra_modules) == declared_extras(service), (
        f"services/{service.name}/pyproject.toml: folio-platform[...] should name the extras its code reaches"
    )


def test_the_reading_sees_each_extra_through_the_platform(tmp_path: Path) -> None:
    """The guard for the test above: a service's imports reach each extra's packages."""
    extra_modules = _extra_modules()
    assert {"sqlalchemy", "alembic", "psycopg"} <= extra_modules["sql"]
    assert "redis" in extra_modules["redis"]
    assert "v2" in extra_modules["nacos"]
    assert "opentelemetry" not in set().union(*extra_modules.values()), "shared with the core dependencies"

    code = tmp_path / "src" / "folio_probe"
    code.mkdir(parents=True)
    (code / "app.py").write_text("from folio_platform.settings import ServiceSettings\n")
    assert needed_extras(tmp_path, extra_modules) == set()
    # The database module imports SQLAlchemy; the config center reaches the Nacos SDK inside a function.
    (code / "store.py").write_text("from folio_platform import database\n")
    (code / "boot.py").write_text("def main():\n    from folio_platform.center import open_center\n")
    assert needed_extras(tmp_path, extra_modules) == {"sql", "nacos"}
    (code / "cache.py").write_text("try:\n    import redis\nexcept ImportError:\n    redis = None\n")
    assert needed_extras(tmp_path, extra_modules) == {"sql", "nacos"}
    (code / "cache.py").write_text("import redis.asyncio\n")
    assert needed_extras(tmp_path, extra_modules) == {"sql", "nacos", "redis"}
