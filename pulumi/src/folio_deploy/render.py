"""Write the values each release of a stack gets, for `helm template` in CI (a real runner has helm).

`python -m folio_deploy.render k3s out/` evaluates the stack offline, writes `out/<release>.yaml` with
the values the program passes (secret values replaced by stand-ins: rendering needs their shape, not
them) and prints one JSON line per release: release, chart, version, repo, namespace, values, and the
chart's own profile files for local charts. CI pulls each pinned chart and renders it with these values,
so a pin that does not exist or values a chart refuses (e.g. Neo4j's minimum memory) fail the PR.
"""

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import yaml

from folio_deploy.offline import evaluate, stand_in_secrets


def _ints(value: Any) -> Any:
    """Whole numbers as ints (the engine's wire format makes every number a float: 1.0 replicas)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {key: _ints(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_ints(item) for item in value]
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("stack")
    parser.add_argument("out", type=Path)
    args = parser.parse_args(argv)
    evaluation = evaluate(args.stack, secrets=stand_in_secrets(args.stack))
    args.out.mkdir(parents=True, exist_ok=True)
    for name, release in sorted(evaluation.releases().items()):
        values_file = args.out / f"{name}.yaml"
        values_file.write_text(yaml.safe_dump(_ints(release.plain("values") or {}), sort_keys=True))
        repo = (release.plain("repositoryOpts") or {}).get("repo")
        files: list[Any] = release.plain("valueYamlFiles") or []
        print(
            json.dumps(
                {
                    "release": name,
                    "chart": release.plain("chart"),
                    "version": release.plain("version"),
                    "repo": repo,
                    "namespace": release.plain("namespace"),
                    "values": str(values_file),
                    "profiles": [str(asset.path) for asset in files],
                }
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
