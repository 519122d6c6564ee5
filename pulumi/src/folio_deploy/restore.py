"""The restore path of a stateful release from its Longhorn backup, rendered as the objects to apply.

`python -m folio_deploy.restore k8s --release postgresql --backup backup-1a2b --volume pvc-3c4d` prints,
for the release, a StorageClass that makes a volume from that backup (Longhorn's `fromBackup`) and the
claim the release's first pod mounts, bound to it: scale the release to zero, delete the old claim, apply
these, scale it back up (docs/platform-security.md, "Restore a volume"). Without --release it renders every
stateful release of the stack with placeholders, which is what `make restore-check` checks: each claim is
the one its chart mounts, in its namespace, on Longhorn, and the backup URL is the stack's target.
"""

import argparse
import json
import sys
from typing import Any

import yaml

from folio_deploy.config import LONGHORN_CLASS
from folio_deploy.graph.platform import VOLUMES, value_at
from folio_deploy.offline import evaluate, stack_config, stand_in_secrets

PLACEHOLDER_BACKUP = "BACKUP_NAME"  # `kubectl -n longhorn-system get backups.longhorn.io`
PLACEHOLDER_VOLUME = "VOLUME_NAME"  # the Longhorn volume the backup was taken of


def backup_url(target: str, backup: str, volume: str) -> str:
    """Longhorn's URL of one backup in the backup target."""
    return f"{target}?backup={backup}&volume={volume}"


def restore_objects(
    release: str, namespace: str, values: dict[str, Any], target: str, replicas: int, backup: str, volume: str
) -> list[dict[str, Any]]:
    """The StorageClass from the backup and the claim the release's first pod mounts."""
    claim = VOLUMES[release].claim
    size = _size(values)
    restore_class = f"{LONGHORN_CLASS}-restore-{release}"
    return [
        {
            "apiVersion": "storage.k8s.io/v1",
            "kind": "StorageClass",
            "metadata": {"name": restore_class},
            "provisioner": "driver.longhorn.io",
            "reclaimPolicy": "Retain",
            "parameters": {
                "numberOfReplicas": str(replicas),
                "fromBackup": backup_url(target, backup, volume),
            },
        },
        {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {"name": claim, "namespace": namespace},
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "storageClassName": restore_class,
                "resources": {"requests": {"storage": size}},
            },
        },
    ]


def _size(values: dict[str, Any]) -> str:
    """The volume size a release's values ask for (the restored volume is at least the backup's size)."""
    for path in (
        "primary.persistence.size",
        "master.persistence.size",
        "volumes.data.dynamic.requests.storage",
        "persistence.size",
        "singleBinary.persistence.size",
        "persistentVolume.size",
    ):
        if isinstance(found := value_at(values, path), str):
            return found
    return "8Gi"


def render(stack: str, release: str | None, backup: str, volume: str) -> list[dict[str, Any]]:
    """Every restore object of the stack's stateful releases (or of one)."""
    evaluation = evaluate(stack, secrets=stand_in_secrets(stack))
    longhorn = evaluation.releases().get("longhorn")
    if longhorn is None:
        raise SystemExit(f"stack {stack} does not install Longhorn: nothing to restore from")
    settings = (longhorn.plain("values") or {}).get("defaultSettings") or {}
    target = settings.get("backupTarget")
    if not target:
        raise SystemExit(f"stack {stack} has no platform.longhorn.backup target")
    replicas = int(settings.get("defaultReplicaCount", 3))
    objects = []
    for name, registered in sorted(evaluation.releases().items()):
        if name in VOLUMES and release in (None, name):
            values = registered.plain("values") or {}
            objects += restore_objects(
                name, str(registered.plain("namespace")), values, target, replicas, backup, volume
            )
    if release is not None and not objects:
        raise SystemExit(f"{release} is no stateful release of stack {stack} ({sorted(VOLUMES)})")
    return objects


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("stack")
    parser.add_argument("--release", help="the stateful release to restore (default: render all)")
    parser.add_argument("--backup", default=PLACEHOLDER_BACKUP)
    parser.add_argument("--volume", default=PLACEHOLDER_VOLUME)
    args = parser.parse_args(argv)
    objects = render(args.stack, args.release, args.backup, args.volume)
    schedule = (
        json.loads(stack_config(args.stack).get("folio:platform", "{}")).get("longhorn", {}).get("backup")
    )
    print(f"# restore path of stack {args.stack}; backups: {schedule}")
    print(yaml.safe_dump_all(objects, sort_keys=False), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
