"""Ownership: a pool or image another object created is never adopted, changed or deleted.

Two namespaces name the same Azure resource (the same `poolName` on one Batch account, the same
`imageName` in one resource group): the second object is Stalled `AlreadyOwned` naming the first,
and deleting it leaves the first one's resource exactly as it was.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from azbatch_operator.devtools.stack import Operator
from tests.e2e.campaign_support import IMAGE_TYPE, SNAPSHOT_TYPE, VERSION_TYPE
from tests.e2e.conftest import SimulatorHandle, World, wait_condition
from tests.e2e.test_batch_pool_resize import arm_requests, condition, fixed_pool, seed_gallery_version
from tests.e2e.test_smoke_flow import image_manifest
from tests.kube import Kubectl


def second_namespace(kubectl: Kubectl, world: World) -> World:
    """Another namespace served by the session operator, on the same Azure resources."""
    other = dataclasses.replace(world, namespace=f"{world.namespace[:58]}-b")
    kubectl.run("create", "namespace", other.namespace)
    return other


def wait_gone(kubectl: Kubectl, kind: str, namespace: str, name: str, timeout: int = 90) -> None:
    kubectl.run(
        "wait",
        f"{kind}/{name}",
        "-n",
        namespace,
        "--for=delete",
        f"--timeout={timeout}s",
        timeout=timeout + 30,
    )


def pool_writes(admin: Any, world: World) -> dict[str, int]:
    return {
        op: n for op, n in arm_requests(admin, world).items() if op.startswith("Pool_") and op != "Pool_Get"
    }


def owner_entries(pool: dict[str, Any]) -> dict[str, str]:
    meta = pool["properties"].get("metadata") or []
    return {e["name"]: e["value"] for e in meta if e["name"].startswith("azbatch.io-")}


def test_same_pool_name_in_two_namespaces_second_is_already_owned_and_its_deletion_leaves_the_pool(
    kubectl: Kubectl, operator: Operator, simulator: SimulatorHandle, world: World
) -> None:
    admin, ns = simulator.admin, world.namespace
    version = seed_gallery_version(admin, world)
    kubectl.apply(fixed_pool(world, version, name="render", dedicated=3, poolName="shared"))
    first = wait_condition(kubectl, "batchpool", ns, "render", "Ready", "Succeeded", timeout=90)
    pool_id = world.pool_id("shared")
    before = admin.resource(pool_id)
    assert before is not None
    assert owner_entries(before) == {
        "azbatch.io-owner": f"{ns}/render",
        "azbatch.io-uid": first["metadata"]["uid"],
    }

    other = second_namespace(kubectl, world)
    admin.reset_requests()
    kubectl.apply(fixed_pool(other, version, name="render", dedicated=9, poolName="shared"))
    second = wait_condition(
        kubectl, "batchpool", other.namespace, "render", "Stalled", "AlreadyOwned", timeout=60
    )
    message = condition(second, "Stalled")["message"]
    assert f"{ns}/render" in message, message
    assert first["metadata"]["uid"] in message, message
    assert "poolName" in message, message
    assert not (second.get("status") or {}).get("poolId"), second["status"]
    # Never resized, re-tagged or re-created by the second object.
    assert pool_writes(admin, world) == {}

    kubectl.run("delete", "batchpool", "render", "-n", other.namespace, "--wait=false")
    wait_gone(kubectl, "batchpool", other.namespace, "render")
    after = admin.resource(pool_id)
    assert after is not None, "deleting the refused object deleted the other's pool"
    assert owner_entries(after) == owner_entries(before)
    assert after["properties"]["scaleSettings"] == before["properties"]["scaleSettings"]
    assert pool_writes(admin, world) == {}
    first = wait_condition(kubectl, "batchpool", ns, "render", "Ready", "Succeeded", timeout=30)
    assert first["status"]["poolId"].lower() == pool_id.lower()


def owned_by(resource: dict[str, Any]) -> str | None:
    return (resource.get("tags") or {}).get("azbatch.io-uid")


def test_same_image_name_in_two_namespaces_second_is_already_owned_and_its_deletion_leaves_the_image(
    kubectl: Kubectl, operator: Operator, simulator: SimulatorHandle, world: World
) -> None:
    admin, ns = simulator.admin, world.namespace
    manifest = image_manifest(world, "img")
    manifest["spec"]["imageName"] = "shared-image"  # type: ignore[index]
    kubectl.apply(manifest)
    first = wait_condition(kubectl, "managedimage", ns, "img", "Ready", "Succeeded", timeout=120)
    uid = first["metadata"]["uid"]
    image_id = first["status"]["imageId"]
    assert image_id.endswith("/images/shared-image")

    def theirs() -> list[str]:
        return sorted(
            r["id"].lower()
            for kind in (IMAGE_TYPE, VERSION_TYPE, SNAPSHOT_TYPE)
            for r in admin.resources(kind)
            if owned_by(r) == uid
        )

    before = theirs()
    assert image_id.lower() in before

    other = second_namespace(kubectl, world)
    clash = image_manifest(other, "img2")
    clash["spec"]["imageName"] = "shared-image"  # type: ignore[index]
    # Its own gallery definition, so only the image clashes.
    clash["spec"]["gallery"]["imageDefinition"] = "def-img2"  # type: ignore[index]
    kubectl.apply(clash)
    second = wait_condition(
        kubectl, "managedimage", other.namespace, "img2", "Stalled", "AlreadyOwned", timeout=60
    )
    message = condition(second, "Stalled")["message"]
    assert f"{ns}/img" in message, message
    assert uid in message, message
    assert "imageName" in message, message
    assert not second["status"].get("imageId"), second["status"]

    kubectl.run("delete", "managedimage", "img2", "-n", other.namespace, "--wait=false")
    wait_gone(kubectl, "managedimage", other.namespace, "img2")
    assert theirs() == before, "deleting the refused ManagedImage touched the other's resources"
    assert admin.resource(image_id) is not None
    wait_condition(kubectl, "managedimage", ns, "img", "Ready", "Succeeded", timeout=30)


def test_a_412_after_the_sdk_retried_our_own_lost_create_takes_up_our_pool(
    kubectl: Kubectl, operator: Operator, simulator: SimulatorHandle, world: World
) -> None:
    """The first pool PUT lands but its answer is lost; the SDK sends it again and Batch answers 412
    (If-None-Match: *): that is our own pool, found by its uid stamp, not a reason to stall."""
    admin, ns = simulator.admin, world.namespace
    version = seed_gallery_version(admin, world)
    admin.reset_requests()
    pool_path = f"/resourcegroups/{world.batch_rg.lower()}/providers/microsoft.batch/batchaccounts/"
    admin.faults(
        {"method": "PUT", "pathRegex": f"{pool_path}[^/]+/pools/lost$", "dropResponse": True, "count": 1}
    )
    try:
        kubectl.apply(fixed_pool(world, version, name="lost", dedicated=2))
        obj = wait_condition(kubectl, "batchpool", ns, "lost", "Ready", "Succeeded", timeout=90)
    finally:
        admin.clear_faults()
    creates = [
        int(e["status"])
        for e in admin.requests()["recent"]
        if e["operation"] == "Pool_Create" and "/pools/lost" in str(e["path"]).lower()
    ]
    assert creates[:2] == [0, 412], creates  # the lost answer, then the SDK's retry
    reasons = {c["reason"] for c in obj["status"]["conditions"]}
    stalled = [e for e in kubectl.json("get", "events", "-n", ns)["items"] if e["type"] == "Warning"]
    assert not [e for e in stalled if e["involvedObject"]["name"] == "lost"], stalled
    assert "Adopted" not in reasons
    assert obj["status"]["poolId"].lower() == world.pool_id("lost").lower()
    pool = admin.resource(world.pool_id("lost"))
    assert pool is not None
    assert owner_entries(pool)["azbatch.io-uid"] == obj["metadata"]["uid"]
