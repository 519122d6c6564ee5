"""Who may sign what Folio runs: the CI workflow's keyless identity and the Harbor project it pushes to.

CI (.github/workflows/main.yml) signs every image with cosign keyless: the certificate Fulcio issues names
the workflow file and the ref it ran on, and GitHub's OIDC issuer. The ClusterImagePolicy admits a Folio
pod only when its image, from the Folio Harbor project, carries such a signature. The tests read the
workflow itself and fail when it signs from another file, ref or issuer than this module names.
"""

import re
from typing import Any

ISSUER = "https://token.actions.githubusercontent.com"
SIGNING_WORKFLOW = ".github/workflows/main.yml"
# The refs main.yml signs on: pushes to main and v* tags.
SIGNING_BRANCHES = ("main",)
SIGNING_TAGS = ("v*",)
# Where the sigstore public-good instance keeps certificates and the transparency log.
FULCIO_URL = "https://fulcio.sigstore.dev"
REKOR_URL = "https://rekor.sigstore.dev"
POLICY_NAME = "folio-signed-by-ci"
# The label that opts a namespace in to the policy controller's verification.
INCLUDE_LABEL = "policy.sigstore.dev/include"


def _glob_to_regexp(pattern: str) -> str:
    return ".*".join(re.escape(part) for part in pattern.split("*"))


def identities(repository: str) -> list[dict[str, str]]:
    """The keyless identities main.yml signs with, one per ref it runs on."""
    workflow = f"https://github.com/{repository}/{SIGNING_WORKFLOW}"
    found = [{"issuer": ISSUER, "subject": f"{workflow}@refs/heads/{branch}"} for branch in SIGNING_BRANCHES]
    found += [
        {"issuer": ISSUER, "subjectRegExp": f"^{re.escape(workflow)}@refs/tags/{_glob_to_regexp(tag)}$"}
        for tag in SIGNING_TAGS
    ]
    return found


def image_policy(repository: str, image_registry: str) -> dict[str, Any]:
    """The ClusterImagePolicy: every image under the Folio registry path is signed by CI's identity."""
    return {
        "apiVersion": "policy.sigstore.dev/v1beta1",
        "kind": "ClusterImagePolicy",
        "metadata": {"name": POLICY_NAME},
        "spec": {
            "images": [{"glob": f"{image_registry.rstrip('/')}/**"}],
            "authorities": [
                {
                    "name": "folio-ci",
                    "keyless": {"url": FULCIO_URL, "identities": identities(repository)},
                    "ctlog": {"url": REKOR_URL},
                }
            ],
            "mode": "enforce",
        },
    }
