"""The Cluster component: k3s over SSH for the k3s stack, the kubeconfig's context for the k8s stack."""

from folio_deploy.cluster import k3s_install_command
from folio_deploy.offline import Evaluation, is_secret, unwrap


def test_k3s_stack_installs_k3s_on_its_host_then_reads_the_kubeconfig(k3s: Evaluation) -> None:
    commands = {command.name: command for command in k3s.of_type("command:remote:Command")}
    assert set(commands) == {"cluster-k3s-server", "cluster-kubeconfig"}
    server = commands["cluster-k3s-server"]
    create = server.plain("create")
    assert "INSTALL_K3S_VERSION=v1.31.4+k3s1" in create
    assert "--disable traefik" in create
    assert "--tls-san 192.0.2.10" in create
    assert is_secret(server.inputs["stdin"]), "the join token travels on stdin, as a secret"
    assert unwrap(server.inputs["connection"])["host"] == "192.0.2.10"
    assert is_secret(server.inputs["connection"]), "the SSH private key is a secret"
    (provider,) = k3s.of_type("pulumi:providers:kubernetes")
    assert is_secret(provider.inputs["kubeconfig"])
    assert "https://192.0.2.10:6443" in provider.plain("kubeconfig")


def test_k8s_stack_uses_the_configured_kubeconfig_context(k8s: Evaluation) -> None:
    assert k8s.of_type("command:remote:Command") == []
    (provider,) = k8s.of_type("pulumi:providers:kubernetes")
    assert provider.plain("context") == "folio-prod"
    assert "kubeconfig" not in provider.inputs


def test_agents_join_the_server_by_its_address() -> None:
    command = k3s_install_command("agent", "v1.31.4+k3s1", "10.0.0.2", server="10.0.0.1")
    assert "agent --server https://10.0.0.1:6443 --token-file /etc/folio/k3s-token" in command
