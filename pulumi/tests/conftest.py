"""Each stack evaluated once, offline, under Pulumi's mocks (see folio_deploy.offline)."""

import pytest

from folio_deploy.offline import Evaluation, evaluate

# Stand-ins for `pulumi config set --secret` values, recognisable wherever they might leak.
K3S_SECRETS = {"sshPrivateKey": "config-secret-sshPrivateKey"}
K8S_SECRETS = {
    "registryPassword": "config-secret-registryPassword",
    "externalDnsCredentials": '{"CF_API_TOKEN": "config-secret-externalDnsCredentials"}',
}


@pytest.fixture(scope="session")
def k3s() -> Evaluation:
    return evaluate("k3s", secrets=K3S_SECRETS)


@pytest.fixture(scope="session")
def k8s() -> Evaluation:
    return evaluate("k8s", secrets=K8S_SECRETS)
