"""Manifests and simulator look-ups shared by the ManagedImage e2e modules."""

from __future__ import annotations

from typing import Any

from azuresim.admin import AdminClient
from tests.e2e.conftest import World, events_for
from tests.kube import Kubectl

SNAPSHOTS = "Microsoft.Compute/snapshots"
IMAGES = "Microsoft.Compute/images"
DEFINITIONS = "Microsoft.Compute/galleries/images"
VERSIONS = "Microsoft.Compute/galleries/images/versions"


def snapshot_source(world: World, data: bool = True) -> dict[str, Any]:
    return {
        "snapshots": {
            "osDisk": {"snapshotId": world.snapshot_id("os-snap"), "osType": "Linux"},
            "dataDisks": [{"lun": 0, "snapshotId": world.snapshot_id("data0-snap")}] if data else [],
        }
    }


def vm_source(world: World, vm_id: str | None = None) -> dict[str, Any]:
    return {"virtualMachine": {"id": vm_id or world.vm_id}}


def image_manifest(
    world: World,
    name: str,
    source: dict[str, Any],
    gallery: dict[str, Any] | None = None,
    **spec: Any,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "resourceGroup": world.images_rg,
        "location": "westeurope",
        "source": source,
        **spec,
    }
    if gallery is not None:
        body["gallery"] = {"galleryId": world.gallery_id, **gallery}
    return {
        "apiVersion": "azbatch.io/v1alpha1",
        "kind": "ManagedImage",
        "metadata": {"name": name, "namespace": world.namespace},
        "spec": body,
    }


def pool_manifest(world: World, name: str, image: str, account_id: str | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "azbatch.io/v1alpha1",
        "kind": "BatchPool",
        "metadata": {"name": name, "namespace": world.namespace},
        "spec": {
            "accountId": account_id or world.account_id,
            "vmSize": "Standard_D2s_v5",
            "nodeAgentSkuId": "batch.node.ubuntu 22.04",
            "image": {"managedImageRef": {"name": image}},
            "scale": {"fixed": {"targetDedicatedNodes": 1}},
        },
    }


def in_rg(admin: AdminClient, world: World, type_: str) -> list[dict[str, Any]]:
    """Simulator resources of one type inside this test's images resource group."""
    prefix = f"{world.rg_id(world.images_rg)}/".lower()
    return [r for r in admin.resources(type_) if str(r["id"]).lower().startswith(prefix)]


def condition(obj: dict[str, Any], type_: str) -> dict[str, Any]:
    return next(c for c in obj["status"]["conditions"] if c["type"] == type_)


def event_reasons(kubectl: Kubectl, namespace: str, name: str) -> list[tuple[str, str]]:
    return [(e["type"], e["reason"]) for e in events_for(kubectl, namespace, name)]


def arm_requests_for(admin: AdminClient, world: World) -> list[dict[str, Any]]:
    """Recent ARM requests that touched this test's images resource group (Entra token calls excluded)."""
    needle = f"/resourcegroups/{world.images_rg.lower()}/"
    return [r for r in admin.requests()["recent"] if needle in str(r.get("path", "")).lower()]
