"""Folio on Kubernetes or k3s: a Cluster, the Platform on it, the App on the Platform."""

from pathlib import Path

import pulumi

from folio_deploy.app import App
from folio_deploy.cluster import Cluster
from folio_deploy.config import load_stack_config
from folio_deploy.platform import Platform

config = load_stack_config()
cluster = Cluster("cluster", config.cluster)
platform = Platform("platform", config, provider=cluster.provider)
app = App(
    "app",
    config,
    platform,
    provider=cluster.provider,
    chart_path=Path(__file__).parent.parent / "helm" / "folio",
)

pulumi.export("shopUrl", app.shop_url)
pulumi.export("grafanaUrl", platform.grafana_url)
pulumi.export("keycloakUrl", platform.keycloak_url)
pulumi.export("harborUrl", platform.harbor_url)
if platform.ci_robot is not None:
    # CI's Harbor login: store these as the repository secrets folio_deploy.platform.registry names.
    pulumi.export("harborCiRobot", platform.ci_robot.name)
    pulumi.export("harborCiRobotSecret", platform.ci_robot.secret)
pulumi.export("releases", sorted([*platform.releases, "folio"]))
