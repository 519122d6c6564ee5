"""Harbor as code: the Folio project, the robot accounts that push (CI) and pull (the cluster), and the
project's retention and vulnerability-prevention policies, made through Harbor's API by the stack.

The CI robot's credentials are stack outputs; CI reads them from the repository secrets named in
CI_ROBOT_SECRETS (`gh secret set HARBOR_PASSWORD` with `pulumi stack output --show-secrets
harborCiRobotSecret`), and a test fails when .github/workflows/main.yml logs in with other secrets.
"""

from dataclasses import dataclass

import pulumi
import pulumiverse_harbor as harbor

from folio_deploy.config import Harbor

# The repository secrets .github/workflows/main.yml logs in to Harbor with: the CI robot's name and secret.
CI_ROBOT_SECRETS = {"username": "HARBOR_USERNAME", "password": "HARBOR_PASSWORD"}
CI_ROBOT = "ci"
PULL_ROBOT = "puller"
# What each robot may do in the project: CI pushes images, signatures and SBOM attestations (and reads
# them back to sign by digest); the cluster only pulls.
ROBOT_ACCESS = {
    CI_ROBOT: (("push", "repository"), ("pull", "repository")),
    PULL_ROBOT: (("pull", "repository"),),
}
# Semver release tags are never deleted by retention (the image a rollback needs).
RELEASE_TAGS = "*.*.*"


def robot_name(project: str, robot: str) -> str:
    """Harbor's full name of a project robot account (what `docker login` takes)."""
    return f"robot${project}+{robot}"


@dataclass(frozen=True)
class CiRobot:
    name: str
    secret: pulumi.Output[str]


class Registry(pulumi.ComponentResource):
    """The project, its robots and policies in the Harbor the stack installs."""

    ci_robot: CiRobot

    def __init__(
        self,
        name: str,
        settings: Harbor,
        url: str,
        admin_password: pulumi.Output[str],
        waits_for: pulumi.Resource,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("folio:platform:Registry", name, None, opts)
        provider = harbor.Provider("harbor", url=url, username="admin", password=admin_password)
        child = pulumi.ResourceOptions(parent=self, provider=provider, depends_on=[waits_for])
        project = harbor.Project(
            "harbor-project",
            name=settings.project,
            public=False,
            # Scan every image on push; refuse pulls of one with a vulnerability at or above the severity,
            # and of one without a cosign signature.
            vulnerability_scanning=True,
            deployment_security=settings.prevent_severity,
            enable_content_trust_cosign=True,
            opts=child,
        )
        robots = {
            robot: harbor.RobotAccount(
                f"harbor-robot-{robot}",
                name=robot,
                level="project",
                description=f"Folio {robot}: {', '.join(action for action, _ in access)} only",
                permissions=[
                    harbor.RobotAccountPermissionArgs(
                        kind="project",
                        namespace=project.name,
                        accesses=[
                            harbor.RobotAccountPermissionAccessArgs(action=action, resource=resource)
                            for action, resource in access
                        ],
                    )
                ],
                opts=child,
            )
            for robot, access in ROBOT_ACCESS.items()
        }
        harbor.RetentionPolicy(
            "harbor-retention",
            scope=project.id,
            schedule="Daily",
            rules=[
                harbor.RetentionPolicyRuleArgs(
                    most_recently_pushed=settings.keep_last, repo_matching="**", tag_matching="**"
                ),
                harbor.RetentionPolicyRuleArgs(
                    always_retain=True, repo_matching="**", tag_matching=RELEASE_TAGS
                ),
            ],
            opts=child,
        )
        # Images already pushed are rescanned every day against the newest vulnerability data.
        harbor.InterrogationServices("harbor-scans", vulnerability_scan_policy="Daily", opts=child)
        self.ci_robot = CiRobot(
            robot_name(settings.project, CI_ROBOT), pulumi.Output.secret(robots[CI_ROBOT].secret)
        )
        self.register_outputs({"ciRobot": self.ci_robot.name})
