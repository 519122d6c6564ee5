"""`make restore-check`: the restore path of every stateful release, from the stack's backup target."""

from typing import Any

import pytest
import yaml

from folio_deploy.graph.platform import VOLUMES
from folio_deploy.offline import Evaluation
from folio_deploy.restore import main, render

STATEFUL_K8S = {"postgresql", "redis", "neo4j", "qdrant", "nacos", "openldap", "loki", "ollama", "harbor"}


def _by_kind(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] == kind]


def test_every_stateful_release_has_its_restore_path(k8s: Evaluation) -> None:
    objects = render("k8s", None, "BACKUP_NAME", "VOLUME_NAME")
    claims = {c["metadata"]["name"]: c for c in _by_kind(objects, "PersistentVolumeClaim")}
    releases = k8s.releases()
    assert {release for release in STATEFUL_K8S} <= set(releases)
    for release in STATEFUL_K8S:
        claim = claims[VOLUMES[release].claim]
        # The claim the chart's first pod mounts, in the release's namespace, from the restore class.
        assert claim["metadata"]["namespace"] == releases[release].plain("namespace")
        assert claim["spec"]["storageClassName"] == f"longhorn-restore-{release}"
    for restore_class in _by_kind(objects, "StorageClass"):
        assert restore_class["provisioner"] == "driver.longhorn.io"
        assert restore_class["parameters"]["numberOfReplicas"] == "3"
        assert restore_class["parameters"]["fromBackup"].startswith(
            "s3://folio-backups@eu-west-1/k8s?backup="
        )


def test_one_release_restores_from_the_named_backup() -> None:
    objects = render("k3s", "postgresql", "backup-1a2b", "pvc-3c4d")
    assert [o["kind"] for o in objects] == ["StorageClass", "PersistentVolumeClaim"]
    assert objects[0]["parameters"] == {
        "numberOfReplicas": "1",
        "fromBackup": "s3://folio-backups@us-east-1/k3s?backup=backup-1a2b&volume=pvc-3c4d",
    }
    assert objects[1]["metadata"] == {"name": "data-postgresql-0", "namespace": "folio-data"}
    assert objects[1]["spec"]["resources"]["requests"]["storage"] == "8Gi"


def test_an_unknown_release_is_refused_with_the_known_ones() -> None:
    with pytest.raises(SystemExit, match="no stateful release"):
        render("k3s", "catalog", "b", "v")


def test_restore_check_prints_yaml_and_the_backup_schedule(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["k3s"]) == 0
    out = capsys.readouterr().out
    assert "'schedule': '0 2 * * *', 'retain': 7" in out
    assert all(doc["kind"] in ("StorageClass", "PersistentVolumeClaim") for doc in yaml.safe_load_all(out))
