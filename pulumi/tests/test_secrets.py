"""No secret is in plain text: not in any resource input, not in an output, not in a stack file."""

import re
from pathlib import Path

import pytest
import yaml

from folio_deploy.config import SECRET_KEYS
from folio_deploy.offline import PROJECT_DIR, Evaluation, is_secret, plain_strings

# Generated passwords come back from the mocks as "generated-<name>", config secrets as "config-secret-<key>".
LEAK = re.compile(r"generated-|config-secret-")


@pytest.mark.parametrize("stack", ["k3s", "k8s"])
def test_no_secret_value_appears_in_clear_in_any_resource_input(
    stack: str, request: pytest.FixtureRequest
) -> None:
    evaluation: Evaluation = request.getfixturevalue(stack)
    leaks = [
        f"{resource.type} {resource.name} {path}"
        for resource in evaluation.resources
        for path, text in plain_strings(resource.inputs)
        if LEAK.search(text)
    ]
    assert leaks == []


@pytest.mark.parametrize("stack", ["k3s", "k8s"])
def test_no_secret_value_appears_in_the_stack_outputs(stack: str, request: pytest.FixtureRequest) -> None:
    evaluation: Evaluation = request.getfixturevalue(stack)
    assert not any(LEAK.search(text) for _, text in plain_strings(evaluation.outputs))


def test_the_secrets_do_reach_the_resources_that_need_them(k3s: Evaluation) -> None:
    """The leak check above proves nothing if the secrets went nowhere: they are there, wrapped."""
    wrapped = [
        resource.name
        for resource in k3s.resources
        for key, value in resource.inputs.items()
        if is_secret(value) and LEAK.search(str(value))
    ]
    assert len(wrapped) >= 15
    assert any(name.startswith("cluster-k3s-server") for name in wrapped)  # the join token, on stdin


def test_every_kubernetes_secret_holds_only_secret_values(k8s: Evaluation) -> None:
    for resource in k8s.of_type("kubernetes:core/v1:Secret"):
        assert is_secret(resource.inputs["stringData"]), resource.name
        assert "data" not in resource.inputs


def test_values_that_must_carry_a_password_are_secret_as_a_whole(k8s: Evaluation) -> None:
    """Deepflow, Nacos, APISIX, OpenLDAP (its reader's entry) and NeuVector (its console's first admin
    password) take theirs as chart values: the values input is then one Pulumi secret."""
    releases = k8s.releases()
    in_values = {"deepflow", "nacos", "apisix", "openldap", "neuvector"}
    for name in in_values:
        assert is_secret(releases[name].inputs["values"]), name
    # ... and only those: the others keep readable values (passwords reach them through Secrets).
    readable = {name for name, release in releases.items() if not is_secret(release.inputs["values"])}
    assert readable == set(releases) - in_values


@pytest.mark.parametrize("path", sorted(PROJECT_DIR.glob("Pulumi*.yaml")), ids=lambda p: p.name)
def test_stack_files_hold_no_secret_in_plain_text(path: Path) -> None:
    config = (yaml.safe_load(path.read_text()) or {}).get("config") or {}
    for key, value in config.items():
        short = key.split(":", 1)[-1]
        if short in SECRET_KEYS or re.search(r"password|secret|token|privatekey", short, re.IGNORECASE):
            assert isinstance(value, dict), f"{path.name}: {key} is in plain text, not `secure:`"
            assert set(value) == {"secure"}, f"{path.name}: {key} is not `secure:`"
