"""`python -m folio_deploy.render` writes what CI hands to `helm template` for every release."""

import json
from pathlib import Path

import pytest
import yaml
from tests.test_stacks import K3S_RELEASES

from folio_deploy.render import main


def test_render_writes_each_releases_values_and_a_line_to_template_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["k3s", str(tmp_path)]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert {line["release"] for line in lines} == K3S_RELEASES
    by_release = {line["release"]: line for line in lines}
    postgres = yaml.safe_load(Path(by_release["postgresql"]["values"]).read_text())
    assert postgres["primary"]["resources"]["requests"] == {"cpu": "100m", "memory": "256Mi"}
    assert by_release["postgresql"]["version"] == "16.4.5"
    assert by_release["folio"]["profiles"][0].endswith("helm/folio/values-k3s.yaml")
    app = yaml.safe_load(Path(by_release["folio"]["values"]).read_text())
    assert app["services"]["catalog"]["replicas"] == 1  # an int, as helm templates expect
