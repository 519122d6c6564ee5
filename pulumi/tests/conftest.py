"""Each stack evaluated once, offline, under Pulumi's mocks (see folio_deploy.offline)."""

import pytest

from folio_deploy.offline import Evaluation, evaluate

# Stand-ins for `pulumi config set --secret` values, recognisable wherever they might leak.
BACKUP_CREDENTIALS = (
    '{"accessKeyId": "config-secret-backupKeyId", "secretAccessKey": "config-secret-backupSecretKey"}'
)
K3S_SECRETS = {"sshPrivateKey": "config-secret-sshPrivateKey", "backupCredentials": BACKUP_CREDENTIALS}
K8S_SECRETS = {
    "backupCredentials": BACKUP_CREDENTIALS,
    "registryPassword": "config-secret-registryPassword",
    "externalDnsCredentials": '{"CF_API_TOKEN": "config-secret-externalDnsCredentials"}',
}


@pytest.fixture(scope="session")
def k3s() -> Evaluation:
    return evaluate("k3s", secrets=K3S_SECRETS)


@pytest.fixture(scope="session")
def k8s() -> Evaluation:
    return evaluate("k8s", secrets=K8S_SECRETS)
