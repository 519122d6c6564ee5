"""A stack configuration that cannot be deployed stops the program with a message naming the key."""

from typing import Any

import pytest

from folio_deploy.config import ConfigError, StackConfig
from folio_deploy.offline import evaluate

BASE: dict[str, Any] = {
    "domain": "example.org",
    "profile": "small",
    "cluster": {"mode": "kubeconfig"},
    "app": {"imageRegistry": "registry.example.org/folio"},
}


def test_a_minimal_config_is_valid_and_defaults_to_self_signed_certificates() -> None:
    config = StackConfig.model_validate(BASE)
    assert config.certificates.issuer == "selfsigned"
    assert config.platform.postgresql.mode == "chart"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"cluster": {"mode": "k3s"}}, "cluster.hosts"),
        ({"certificates": {"issuer": "letsencrypt"}}, "acmeEmail"),
        ({"platform": {"redis": {"mode": "external"}}}, "bring your own"),
        ({"platform": {"postgresql": {"mode": "embedded"}}}, "must outlive a pod"),
        ({"platform": {"qdrant": {"mode": "somewhere"}}}, "'chart', 'external' or 'embedded'"),
        ({"platform": {"llm": {"enabled": False}}}, "externalBaseUrl"),
        ({"platform": {"postgress": {"mode": "chart"}}}, "Extra inputs"),
        ({"app": {"imageRegistry": "r", "replicas": 0}}, "greater than or equal to 1"),
    ],
)
def test_invalid_configs_are_refused(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        StackConfig.model_validate({**BASE, **change})


def test_the_program_reports_a_bad_key_with_its_full_name() -> None:
    with pytest.raises(ConfigError, match=r"folio:platform\.postgress"):
        evaluate("k8s", overrides={"platform": {"postgress": {"mode": "chart"}}})


def test_k3s_over_ssh_without_a_private_key_says_how_to_set_it() -> None:
    with pytest.raises(ConfigError, match=r"pulumi config set --secret folio:sshPrivateKey"):
        evaluate("k3s")


def test_a_registry_user_without_its_password_says_how_to_set_it() -> None:
    dns = {
        "externalDnsCredentials": '{"CF_API_TOKEN": "stand-in"}',
        "backupCredentials": '{"accessKeyId": "stand-in", "secretAccessKey": "stand-in"}',
    }
    with pytest.raises(ConfigError, match=r"folio:registryPassword"):
        evaluate("k8s", secrets=dns)


def test_public_dns_without_the_providers_credentials_says_how_to_set_them() -> None:
    with pytest.raises(ConfigError, match=r"folio:externalDnsCredentials"):
        evaluate("k8s", secrets={"registryPassword": "stand-in"})


def test_backups_without_the_buckets_credentials_say_how_to_set_them() -> None:
    with pytest.raises(ConfigError, match=r"pulumi config set --secret folio:backupCredentials"):
        evaluate("k3s", secrets={"sshPrivateKey": "stand-in"})


def test_longhorn_refuses_another_storage_class() -> None:
    with pytest.raises(ConfigError, match=r"every stateful release uses 'longhorn'"):
        evaluate("k3s", overrides={"storageClass": "local-path"})
