"""The main job end to end: a ManagedImage published to a gallery, then a pool on it, then deletion."""

from __future__ import annotations

from azbatch_operator.devtools.stack import Operator
from tests.e2e.conftest import SimulatorHandle, World, wait_condition
from tests.kube import Kubectl


def image_manifest(world: World, name: str = "img") -> dict[str, object]:
    return {
        "apiVersion": "azbatch.io/v1alpha1",
        "kind": "ManagedImage",
        "metadata": {"name": name, "namespace": world.namespace},
        "spec": {
            "resourceGroup": world.images_rg,
            "location": "westeurope",
            "source": {
                "snapshots": {
                    "osDisk": {"snapshotId": world.snapshot_id("os-snap"), "osType": "Linux"},
                    "dataDisks": [{"lun": 0, "snapshotId": world.snapshot_id("data0-snap")}],
                }
            },
            "gallery": {"galleryId": world.gallery_id, "imageDefinition": f"def-{name}", "version": "1.0.0"},
        },
    }


def pool_manifest(world: World, name: str = "pool", image: str = "img", nodes: int = 10) -> dict[str, object]:
    return {
        "apiVersion": "azbatch.io/v1alpha1",
        "kind": "BatchPool",
        "metadata": {"name": name, "namespace": world.namespace},
        "spec": {
            "accountId": world.account_id,
            "vmSize": "Standard_D2s_v5",
            "nodeAgentSkuId": "batch.node.ubuntu 22.04",
            "image": {"managedImageRef": {"name": image}},
            "scale": {"fixed": {"targetDedicatedNodes": nodes}},
        },
    }


def test_image_then_pool_then_delete(
    kubectl: Kubectl, operator: Operator, simulator: SimulatorHandle, world: World
) -> None:
    ns = world.namespace
    kubectl.apply(image_manifest(world))
    kubectl.apply(pool_manifest(world))
    img = wait_condition(kubectl, "managedimage", ns, "img", "Ready", timeout=90)
    version_id = img["status"]["galleryImageVersionId"]
    assert version_id.lower().endswith("/galleries/gallery1/images/def-img/versions/1.0.0")
    pool = wait_condition(kubectl, "batchpool", ns, "pool", "Ready", timeout=90)
    assert pool["status"]["currentDedicatedNodes"] == 10
    assert pool["status"]["imageReference"].lower() == version_id.lower()
    in_azure = simulator.admin.resource(world.pool_id("pool"))
    assert in_azure is not None
