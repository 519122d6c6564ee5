"""Storage: Longhorn's replicated block storage for every stateful release, and its scheduled backups to
an S3-compatible bucket.

Longhorn runs on k3s and on any Kubernetes with open-iscsi on its nodes, so both stacks use the same
class: a volume keeps `replicas` copies on distinct nodes (it survives a node), and a RecurringJob backs
every volume up to the bucket each night, keeping the last `retain` backups (it survives the cluster).
"""

import json

import pulumi
import pulumi_kubernetes as k8s

from folio_deploy.config import LONGHORN_CLASS, require_secret_config
from folio_deploy.platform.base import NAMESPACES, Context, Part

# The Secret Longhorn reads the bucket's credentials from (keys as its S3 client names them).
BACKUP_SECRET = "longhorn-backup-target"  # noqa: S105 (a Secret's name)
# Volumes with no recurring-job label belong to the `default` group: every volume the class creates.
BACKUP_GROUP = "default"
BACKUP_JOB = "folio-nightly-backup"


class Storage(Part):
    """Longhorn and its backup job (nothing when platform.longhorn is off)."""

    storage_class: str | None

    def __init__(self, name: str, context: Context, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("Storage", name, context, opts)
        settings = self._config.platform.longhorn
        self.storage_class = None
        if settings.enabled:
            self.storage_class = LONGHORN_CLASS
            release = self._longhorn()
            context.storage = release
            if settings.backup is not None:
                self._backup_job(release)
        self.register_outputs({"storageClass": self.storage_class})

    def _longhorn(self) -> k8s.helm.v3.Release:
        settings = self._config.platform.longhorn
        backup = settings.backup
        defaults: dict[str, object] = {
            "defaultReplicaCount": settings.replicas,
            "guaranteedInstanceManagerCPU": settings.guaranteed_instance_manager_cpu,
            # A recurring backup also runs for a volume whose workload is scaled to zero.
            "allowRecurringJobWhileVolumeDetached": True,
        }
        if backup is not None:
            credentials = require_secret_config(
                "backupCredentials", "platform.longhorn.backup needs the bucket's credentials"
            )
            data: dict[str, pulumi.Input[str]] = {
                "AWS_ACCESS_KEY_ID": credentials.apply(lambda text: str(json.loads(text)["accessKeyId"])),
                "AWS_SECRET_ACCESS_KEY": credentials.apply(
                    lambda text: str(json.loads(text)["secretAccessKey"])
                ),
            }
            if backup.endpoint:
                data["AWS_ENDPOINTS"] = backup.endpoint
            self._secret(BACKUP_SECRET, NAMESPACES["longhorn"], data)
            defaults |= {"backupTarget": backup.target, "backupTargetCredentialSecret": BACKUP_SECRET}
        one = 1 if settings.replicas == 1 else 3
        return self._release(
            "longhorn",
            {
                "persistence": {
                    "defaultClass": True,
                    "defaultClassReplicaCount": settings.replicas,
                    # A released claim's data stays until someone deletes it on purpose.
                    "reclaimPolicy": "Retain",
                },
                "defaultSettings": defaults,
                "csi": {
                    "attacherReplicaCount": one,
                    "provisionerReplicaCount": one,
                    "resizerReplicaCount": one,
                    "snapshotterReplicaCount": one,
                },
                "longhornUI": {"replicas": 1},
            },
        )

    def _backup_job(self, release: k8s.helm.v3.Release) -> None:
        backup = self._config.platform.longhorn.backup
        assert backup is not None
        k8s.apiextensions.CustomResource(
            "longhorn-recurring-backup",
            api_version="longhorn.io/v1beta2",
            kind="RecurringJob",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=BACKUP_JOB, namespace=NAMESPACES["longhorn"]),
            spec={
                "name": BACKUP_JOB,
                "task": "backup",
                "cron": backup.schedule,
                "retain": backup.retain,
                "concurrency": 1,
                "groups": [BACKUP_GROUP],
                "labels": {"app.kubernetes.io/part-of": "folio"},
            },
            opts=pulumi.ResourceOptions(parent=self, provider=self._k8s, depends_on=[release]),
        )
