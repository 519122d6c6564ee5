"""The Cluster component: the Kubernetes provider every other resource is created through.

Two ways in: an existing cluster through your kubeconfig (any Kubernetes, a k3s you run already), or k3s
installed by this program on hosts you give it over SSH (pulumi-command), its kubeconfig read back as a
secret.
"""

import pulumi
import pulumi_command.remote as remote
import pulumi_kubernetes as k8s

from folio_deploy.config import ClusterConfig, require_secret_config
from folio_deploy.resources import generated_password

K3S_INSTALL_URL = "https://get.k3s.io"
TOKEN_FILE = "/etc/folio/k3s-token"  # noqa: S105 (where the token is written, not the token)


def k3s_install_command(role: str, version: str, host: str, server: str | None = None) -> str:
    """The shell that installs k3s on one host; the join token arrives on stdin, never in the command.

    Traefik is disabled (ingress-nginx is the ingress), the API certificate names the host's address.
    """
    save_token = f"install -d -m 700 /etc/folio && umask 077 && cat > {TOKEN_FILE}"
    env = f"INSTALL_K3S_VERSION={version}"
    if role == "server":
        args = (
            f"server --disable traefik --tls-san {host} --write-kubeconfig-mode 600 --token-file {TOKEN_FILE}"
        )
    else:
        args = f"agent --server https://{server}:6443 --token-file {TOKEN_FILE}"
    return f"{save_token} && curl -sfL {K3S_INSTALL_URL} | {env} sh -s - {args}"


class Cluster(pulumi.ComponentResource):
    """A Kubernetes provider for an existing cluster or for k3s installed over SSH."""

    provider: k8s.Provider

    def __init__(self, name: str, config: ClusterConfig, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("folio:index:Cluster", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        if config.mode == "kubeconfig":
            # No kubeconfig argument: the provider reads $KUBECONFIG / ~/.kube/config like kubectl.
            self.provider = k8s.Provider(f"{name}-kubernetes", context=config.context, opts=child)
            self.register_outputs({})
            return

        private_key = require_secret_config("sshPrivateKey", "cluster.mode k3s installs k3s over SSH")
        token = generated_password(f"{name}-k3s-token", self, 48)
        server, *agents = config.hosts

        def connection(host: str) -> remote.ConnectionArgs:
            return remote.ConnectionArgs(host=host, user=config.ssh_user, private_key=private_key)

        install = remote.Command(
            f"{name}-k3s-server",
            connection=connection(server),
            create=k3s_install_command("server", config.k3s_version, server),
            delete="/usr/local/bin/k3s-uninstall.sh",
            stdin=token,
            opts=child,
        )
        joined = [
            remote.Command(
                f"{name}-k3s-agent-{index}",
                connection=connection(host),
                create=k3s_install_command("agent", config.k3s_version, host, server),
                delete="/usr/local/bin/k3s-agent-uninstall.sh",
                stdin=token,
                opts=pulumi.ResourceOptions(parent=self, depends_on=[install]),
            )
            for index, host in enumerate(agents, start=1)
        ]
        kubeconfig = remote.Command(
            f"{name}-kubeconfig",
            connection=connection(server),
            create="cat /etc/rancher/k3s/k3s.yaml",
            logging=remote.Logging.NONE,
            opts=pulumi.ResourceOptions(
                parent=self, depends_on=[install, *joined], additional_secret_outputs=["stdout"]
            ),
        )

        def reachable(text: str) -> str:
            # k3s writes its kubeconfig for 127.0.0.1; the program reaches the server at its SSH address.
            return text.replace("https://127.0.0.1:6443", f"https://{server}:6443")

        kubeconfig_text: pulumi.Output[str] = pulumi.Output.secret(kubeconfig.stdout.apply(reachable))
        self.provider = k8s.Provider(f"{name}-kubernetes", kubeconfig=kubeconfig_text, opts=child)
        self.register_outputs({})
