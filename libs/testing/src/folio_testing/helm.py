"""Render and lint Helm charts with the real Helm engine, for tests.

The one place that knows how Helm is reached: today the Helm v4 Go SDK bundled in the PyPI wheel
`helm-python-sdk` (no helm binary needed, young but it is Helm's own code). Where the `helm` binary
exists (a CI runner), only this module would change.
"""

import shutil
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import helm_python
import yaml

# helm lint severities (helm's support.Severity).
LINT_WARNING = 2
LINT_ERROR = 3


@dataclass(frozen=True)
class LintFinding:
    severity: int
    path: str
    message: str


def merge_values(*layers: Mapping[str, Any]) -> dict[str, Any]:
    """Merge values files the way `helm -f a.yaml -f b.yaml` does: maps deeply, anything else replaced."""
    merged: dict[str, Any] = {}
    for layer in layers:
        for key, value in layer.items():
            if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
                merged[key] = merge_values(merged[key], value)
            elif isinstance(value, Mapping):
                merged[key] = merge_values(value)
            else:
                merged[key] = value
    return merged


def load_values(files: Iterable[Path]) -> dict[str, Any]:
    """Values files, merged in order."""
    return merge_values(*(yaml.safe_load(path.read_text()) or {} for path in files))


class ChartCopy:
    """A chart copied next to its file:// dependencies in a temporary directory, dependencies built.

    `helm dependency build` writes into charts/; working on a copy keeps the source tree clean.
    """

    def __init__(self, chart_dir: Path) -> None:
        self._tmp = Path(tempfile.mkdtemp(prefix="folio-helm-"))
        # Charts refer to siblings (file://../folio-lib): copy the folder holding all of them.
        shutil.copytree(
            chart_dir.parent, self._tmp / chart_dir.parent.name, ignore=shutil.ignore_patterns("tests")
        )
        self.path = self._tmp / chart_dir.parent.name / chart_dir.name
        shutil.rmtree(self.path / "charts", ignore_errors=True)
        helm_python.dependency_build(self.path)

    def render(
        self, values: Mapping[str, Any] | None = None, *, release: str = "folio", namespace: str = "folio"
    ) -> list[dict[str, Any]]:
        """Every object `helm template` would print, parsed, in template order."""
        with helm_python.Chart.load(self.path) as chart:
            manifests = chart.render(dict(values or {}), name=release, namespace=namespace, is_install=True)
        objects: list[dict[str, Any]] = []
        for template in sorted(manifests):
            if not template.endswith((".yaml", ".yml")):
                continue  # NOTES.txt and the like
            objects.extend(doc for doc in yaml.safe_load_all(manifests[template]) if doc)
        return objects

    def lint(self, values: Mapping[str, Any] | None = None, *, namespace: str = "folio") -> list[LintFinding]:
        """`helm lint --strict` findings (warnings and errors)."""
        report = helm_python.lint(self.path, dict(values or {}), strict=True, namespace=namespace)
        findings = [
            LintFinding(m["severity"], m.get("path", ""), m.get("error", ""))
            for m in report.get("messages", [])
            if m["severity"] >= LINT_WARNING
        ]
        findings.extend(LintFinding(LINT_ERROR, "", error) for error in report.get("errors") or [])
        return findings

    def close(self) -> None:
        shutil.rmtree(self._tmp, ignore_errors=True)


def render_to(chart_dir: Path, values_files: list[Path], out: Path) -> Path:
    """Write the rendered objects of one profile to `out` as one YAML file (for scanners like checkov)."""
    chart = ChartCopy(chart_dir)
    try:
        objects = chart.render(load_values(values_files))
    finally:
        chart.close()
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(yaml.safe_dump_all(objects, sort_keys=False))
    return out


def main() -> None:
    """`python -m folio_testing.helm OUT.yaml values.yaml [overlay.yaml ...]`: render helm/folio offline."""
    import sys

    if len(sys.argv) < 3:
        raise SystemExit("usage: python -m folio_testing.helm OUT.yaml VALUES.yaml [OVERLAY.yaml ...]")
    files = [Path(arg) for arg in sys.argv[2:]]
    out = render_to(Path(__file__).resolve().parents[4] / "helm" / "folio", files, Path(sys.argv[1]))
    print(f"rendered {out}")


if __name__ == "__main__":
    main()
