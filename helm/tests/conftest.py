"""The folio chart rendered once per profile by the real Helm engine, shared by the chart's tests."""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from folio_testing.helm import ChartCopy, load_values

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "helm" / "folio"
# The values files of each profile, in the order `helm -f` would get them.
PROFILES = {
    "default": [CHART / "values.yaml"],
    "k3s": [CHART / "values.yaml", CHART / "values-k3s.yaml"],
    "k8s": [CHART / "values.yaml", CHART / "values-k8s.yaml"],
}


@pytest.fixture(scope="session")
def chart() -> Iterator[ChartCopy]:
    copy = ChartCopy(CHART)
    yield copy
    copy.close()


@pytest.fixture(scope="session")
def rendered(chart: ChartCopy) -> dict[str, list[dict[str, Any]]]:
    """profile -> every rendered object."""
    return {name: chart.render(load_values(files)) for name, files in PROFILES.items()}
