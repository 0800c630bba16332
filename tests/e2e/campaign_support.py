"""Shared by the reliability campaign (tests/e2e/test_campaign_*.py): a bigger world, many objects at
once, one LIST per poll, and the Azure inventory compared with the objects (no duplicates, no orphans).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import yaml

from azuresim.admin import AdminClient
from tests.e2e.conftest import World, seed_world
from tests.e2e.test_batch_pool_resize import POOL_TYPE, pre_rg, seed_gallery_version
from tests.kube import Kubectl

SNAPSHOT_TYPE = "microsoft.compute/snapshots"
IMAGE_TYPE = "microsoft.compute/images"
VERSION_TYPE = "microsoft.compute/galleries/images/versions"


def big_world(admin: AdminClient, namespace: str, pools: int) -> tuple[World, str]:
    """The standard per-test world with room for `pools` pools, plus a ready gallery image version."""
    world = seed_world(admin, namespace, account={"poolQuota": pools + 20, "dedicatedCoreQuota": 10**6})
    return world, seed_gallery_version(admin, world)


def pool(
    world: World, name: str, image_id: str | None = None, image_ref: str | None = None, nodes: int = 2
) -> dict[str, Any]:
    image: dict[str, Any] = {"id": image_id} if image_id else {"managedImageRef": {"name": image_ref}}
    return {
        "apiVersion": "azbatch.io/v1alpha1",
        "kind": "BatchPool",
        "metadata": {"name": name, "namespace": world.namespace},
        "spec": {
            "accountId": world.account_id,
            "vmSize": "Standard_D2s_v5",
            "nodeAgentSkuId": "batch.node.ubuntu 22.04",
            "image": image,
            "scale": {"fixed": {"targetDedicatedNodes": nodes, "resizeTimeout": "PT5M"}},
            "resizeRetry": {"maxAttempts": 0, "backoffSeconds": 1},
        },
    }


def apply_all(kubectl: Kubectl, docs: list[dict[str, Any]]) -> None:
    kubectl.run("apply", "--server-side", "-f", "-", input=yaml.safe_dump_all(docs), timeout=300)


def objects(kubectl: Kubectl, kind: str, namespace: str) -> list[dict[str, Any]]:
    return list(kubectl.json("get", kind, "-n", namespace)["items"])


def ready(obj: dict[str, Any]) -> bool:
    gen = obj["metadata"].get("generation")
    status = obj.get("status") or {}
    return any(
        c["type"] == "Ready" and c["status"] == "True" and c.get("observedGeneration") == gen
        for c in status.get("conditions") or []
    )


def conditions(obj: dict[str, Any]) -> list[dict[str, Any]]:
    return list((obj.get("status") or {}).get("conditions") or [])


def wait_until(what: str, check: Callable[[], bool], timeout: float, every: float = 1.0) -> float:
    start = time.monotonic()
    while not check():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"{what}: not true after {timeout:.0f} s")
        time.sleep(every)
    return time.monotonic() - start


def wait_all_ready(kubectl: Kubectl, namespace: str, counts: dict[str, int], timeout: float) -> float:
    """Until every object of each kind is Ready (one LIST per kind per second)."""
    last: dict[str, str] = {}

    def check() -> bool:
        done = True
        for kind, count in counts.items():
            items = objects(kubectl, kind, namespace)
            not_ready = [o for o in items if not ready(o)]
            sample = [
                (o["metadata"]["name"], [(c["type"], c["status"], c["reason"]) for c in conditions(o)])
                for o in not_ready[:2]
            ]
            last[kind] = f"{len(items) - len(not_ready)}/{count} Ready; e.g. {sample}"
            done = done and len(items) == count and not not_ready
        return done

    try:
        return wait_until("all Ready", check, timeout)
    except AssertionError as exc:
        raise AssertionError(f"{exc}: {last}") from None


def inventory(admin: AdminClient, world: World) -> dict[str, set[str]]:
    """ARM ids (lower case) by type, of everything in this test's resource groups."""
    groups = [world.rg_id(rg).lower() + "/" for rg in (world.images_rg, world.batch_rg)]
    out: dict[str, set[str]] = {}
    for res in admin.resources():
        rid = str(res["id"]).lower()
        if any(rid.startswith(g) for g in groups):
            out.setdefault(str(res["type"]).lower(), set()).add(rid)
    return out


def seeded_snapshots(world: World) -> set[str]:
    return {world.snapshot_id(n).lower() for n in ("os-snap", "data0-snap")}


def assert_azure_matches_objects(admin: AdminClient, world: World, kubectl: Kubectl) -> None:
    """Exactly one Azure resource per object, none without one (definitions and seeded parts aside)."""
    ns = world.namespace
    pools = objects(kubectl, "batchpool", ns)
    images = objects(kubectl, "managedimage", ns)
    have = inventory(admin, world)
    want_pools = {world.pool_id(p["metadata"]["name"]).lower() for p in pools}
    assert {p["status"]["poolId"].lower() for p in pools} == want_pools
    in_azure = have.get(POOL_TYPE.lower(), set())
    assert in_azure == want_pools, f"extra: {in_azure - want_pools}, missing: {want_pools - in_azure}"
    want_images = {i["status"]["imageId"].lower() for i in images}
    assert have.get(IMAGE_TYPE, set()) == want_images, have.get(IMAGE_TYPE)
    want_versions = {i["status"]["galleryImageVersionId"].lower() for i in images}
    assert have.get(VERSION_TYPE, set()) == want_versions, have.get(VERSION_TYPE)
    want_snaps = seeded_snapshots(world) | {
        s.lower() for i in images for s in i["status"].get("snapshotIds") or []
    }
    assert have.get(SNAPSHOT_TYPE, set()) == want_snaps, have.get(SNAPSHOT_TYPE)


def assert_nothing_left(admin: AdminClient, world: World) -> None:
    """After deleting every object (Delete policy): nothing the operator created remains in Azure."""
    have = inventory(admin, world)
    assert not have.get(POOL_TYPE.lower()), have.get(POOL_TYPE.lower())
    assert not have.get(IMAGE_TYPE), have.get(IMAGE_TYPE)
    assert not have.get(VERSION_TYPE), have.get(VERSION_TYPE)
    assert have.get(SNAPSHOT_TYPE, set()) == seeded_snapshots(world), have.get(SNAPSHOT_TYPE)


def delete_all(kubectl: Kubectl, namespace: str, timeout: float) -> float:
    start = time.monotonic()
    kubectl.run("delete", "batchpools,managedimages", "--all", "-n", namespace, "--wait=false")
    wait_until(
        "every object gone",
        lambda: (
            not objects(kubectl, "batchpool", namespace) and not objects(kubectl, "managedimage", namespace)
        ),
        timeout,
    )
    return time.monotonic() - start


def fault_rules(world: World, rate: float) -> list[dict[str, Any]]:
    """429 (Retry-After), 500, 503 and dropped connections, each at `rate`, on this test's groups only."""
    groups = "|".join(rg.lower() for rg in (world.images_rg, world.batch_rg, pre_rg(world)))
    path = f"/resourcegroups/({groups})(/|$)"
    return [
        {"pathRegex": path, "status": 429, "retryAfter": 1, "rate": rate},
        {"pathRegex": path, "status": 500, "rate": rate},
        {"pathRegex": path, "status": 503, "retryAfter": 1, "rate": rate},
        {"pathRegex": path, "drop": True, "rate": rate},
    ]
