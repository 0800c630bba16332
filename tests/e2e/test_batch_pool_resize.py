"""BatchPool fixed scale end to end: create, resize until the target (seed S8), quota, lost image (S9).

Pools here use `spec.image.id` on a gallery image version seeded straight into the simulator, so no
ManagedImage has to be built first. The simulator's default `batch.maxNodesPerResize` (400) makes a
pool of more than 400 nodes need several resizes, as real Batch does for large pools.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from azbatch_operator.devtools.stack import Operator
from azuresim.admin import AdminClient
from tests.e2e.conftest import (
    SUBSCRIPTION,
    TENANT,
    SimulatorHandle,
    World,
    events_for,
    patch_fixed_scale,
    wait_condition,
    wait_for,
)
from tests.kube import Kubectl

POOL_TYPE = "Microsoft.Batch/batchAccounts/pools"
#: Pool writes through ARM and through the account's data plane (``Batch.*``).
POOL_WRITES = ("Pool_Create", "Pool_Update", "Pool_StopResize", "Batch.Pool_Resize", "Batch.Pool_StopResize")


# ---------------------------------------------------------------------------- helpers (imported by siblings)


def pre_rg(world: World) -> str:
    return f"pre-{world.namespace[-20:].strip('-')}"


def seed_gallery_version(
    admin: AdminClient, world: World, version: str = "1.0.0", regions: tuple[str, ...] = ("westeurope",)
) -> str:
    """A published gallery image version (built from a managed image) that no ManagedImage owns."""
    rg = pre_rg(world)
    image_id = f"{world.rg_id(rg)}/providers/Microsoft.Compute/images/base-img"
    admin.seed(
        {
            "subscriptions": [
                {
                    "id": SUBSCRIPTION,
                    "tenant": TENANT,
                    "resourceGroups": [
                        {
                            "name": rg,
                            "location": "westeurope",
                            "images": [{"name": "base-img", "snapshot": world.snapshot_id("os-snap")}],
                            "galleries": [
                                {
                                    "name": "pre",
                                    "images": [
                                        {
                                            "name": "render",
                                            "osType": "Linux",
                                            "osState": "Generalized",
                                            "versions": [
                                                {
                                                    "name": version,
                                                    "source": image_id,
                                                    "targetRegions": list(regions),
                                                }
                                            ],
                                        }
                                    ],
                                }
                            ],
                        }
                    ],
                }
            ]
        }
    )
    return f"{world.rg_id(rg)}/providers/Microsoft.Compute/galleries/pre/images/render/versions/{version}"


def fixed_pool(
    world: World,
    image_id: str,
    name: str = "pool",
    dedicated: int = 5,
    low_priority: int = 0,
    timeout: str = "PT5M",
    max_attempts: int = 10,
    backoff: int = 1,
    **spec: Any,
) -> dict[str, Any]:
    return {
        "apiVersion": "azbatch.io/v1alpha1",
        "kind": "BatchPool",
        "metadata": {"name": name, "namespace": world.namespace},
        "spec": {
            "accountId": world.account_id,
            "vmSize": "Standard_D2s_v5",
            "nodeAgentSkuId": "batch.node.ubuntu 22.04",
            "image": {"id": image_id},
            "scale": {
                "fixed": {
                    "targetDedicatedNodes": dedicated,
                    "targetLowPriorityNodes": low_priority,
                    "resizeTimeout": timeout,
                }
            },
            "resizeRetry": {"maxAttempts": max_attempts, "backoffSeconds": backoff},
            **spec,
        },
    }


def arm_requests(admin: AdminClient, world: World) -> Counter[str]:
    """ARM requests (by operation) the simulator saw for this test's resource groups."""
    groups = (
        *(f"/resourcegroups/{rg.lower()}/" for rg in (world.batch_rg, world.images_rg, pre_rg(world))),
        f"/batch/{SUBSCRIPTION}/{world.batch_rg}/".lower(),  # the account's data plane
    )
    counts: Counter[str] = Counter()
    for entry in admin.requests()["recent"]:
        if any(g in str(entry["path"]).lower() for g in groups):
            counts[str(entry["operation"])] += 1
    return counts


def pool_writes(admin: AdminClient, world: World) -> Counter[str]:
    counts = arm_requests(admin, world)
    return Counter({op: n for op, n in counts.items() if op in POOL_WRITES})


def condition(obj: dict[str, Any], type_: str) -> dict[str, Any]:
    return next(c for c in obj["status"]["conditions"] if c["type"] == type_)


def event_reasons(kubectl: Kubectl, ns: str, name: str) -> list[str]:
    return [e["reason"] for e in events_for(kubectl, ns, name)]


# ---------------------------------------------------------------------------- tests


def test_small_pool_reaches_ready_with_one_put_and_orphan_keeps_it(
    kubectl: Kubectl, operator: Operator, simulator: SimulatorHandle, world: World
) -> None:
    admin, ns = simulator.admin, world.namespace
    version = seed_gallery_version(admin, world)
    admin.reset_requests()
    kubectl.apply(fixed_pool(world, version, dedicated=5, deletionPolicy="Orphan"))
    obj = wait_condition(kubectl, "batchpool", ns, "pool", "Ready", "Succeeded", timeout=60)
    to_ready = arm_requests(admin, world)

    status = obj["status"]
    assert status["currentDedicatedNodes"] == 5
    assert status["targetDedicatedNodes"] == 5
    assert status["allocationState"] == "Steady"
    assert status["imageReference"] == version
    assert status["poolId"].lower() == world.pool_id("pool").lower()
    assert status["accountPoolAllocationMode"] == "BatchService"
    assert status["observedGeneration"] == obj["metadata"]["generation"]
    assert condition(obj, "Stalled")["status"] == "False"
    assert condition(obj, "Reconciling")["status"] == "False"
    assert to_ready["Pool_Create"] == 1, to_ready
    assert to_ready["Pool_Update"] == 0, to_ready
    print(f"ARM requests apply->Ready (5 nodes): {sum(to_ready.values())} {dict(to_ready)}")

    table = kubectl.run("get", "bp", "pool", "-n", ns).stdout
    header, row = table.strip().splitlines()
    assert header.split()[:8] == ["NAME", "VM", "SIZE", "TARGET", "CURRENT", "ALLOCATION", "READY", "REASON"]
    assert row.split()[:7] == ["pool", "Standard_D2s_v5", "5", "5", "Steady", "True", "Succeeded"]

    pool = admin.resource(world.pool_id("pool"))
    assert pool is not None
    vmc = pool["properties"]["deploymentConfiguration"]["virtualMachineConfiguration"]
    assert vmc["imageReference"]["id"] == version
    assert vmc["nodeAgentSkuId"] == "batch.node.ubuntu 22.04"
    assert "Creating" in event_reasons(kubectl, ns, "pool")

    kubectl.run("delete", "bp", "pool", "-n", ns, "--timeout=60s")
    assert admin.resource(world.pool_id("pool")) is not None, "Orphan must leave the pool in Azure"
    assert "Pool_Delete" not in arm_requests(admin, world)


@pytest.mark.parametrize("repeat_patch_starts", [True, False], ids=["patch-restarts", "patch-ignored"])
def test_large_pool_needs_several_resizes_and_reaches_target(
    kubectl: Kubectl,
    operator: Operator,
    simulator: SimulatorHandle,
    world: World,
    repeat_patch_starts: bool,
    request: pytest.FixtureRequest,
) -> None:
    """2,000 nodes, at most 400 per resize: the first resizes time out short of the target (seed S8).

    Whether Batch starts a resize for a PATCH that repeats the pool's scaleSettings is undocumented
    (world flag ``batch.identicalScalePatchStartsResize``): retries use the data plane's Pool_Resize,
    which always starts one, so the pool reaches its target either way.
    """
    admin, ns = simulator.admin, world.namespace
    admin.seed({"batch": {"identicalScalePatchStartsResize": repeat_patch_starts}})
    request.addfinalizer(lambda: admin.seed({"batch": {"identicalScalePatchStartsResize": True}}))
    version = seed_gallery_version(admin, world)
    admin.reset_requests()
    kubectl.apply(fixed_pool(world, version, dedicated=2000, timeout="PT5M", backoff=1))
    retrying = wait_condition(kubectl, "batchpool", ns, "pool", "Reconciling", "ResizeRetry", timeout=60)
    assert retrying["status"]["lastResizeError"]["code"].lower() == "allocationtimedout"
    assert "resizing again" in condition(retrying, "Reconciling")["message"]
    obj = wait_condition(kubectl, "batchpool", ns, "pool", "Ready", "Succeeded", timeout=150)
    assert obj["status"]["currentDedicatedNodes"] == 2000
    # The last error Azure reported stays visible after success.
    assert obj["status"]["lastResizeError"]["code"].lower() == "allocationtimedout"
    writes = pool_writes(admin, world)
    assert writes["Pool_Create"] == 1, writes
    assert writes["Pool_Update"] == 0, writes
    attempts = writes["Pool_Create"] + writes["Batch.Pool_Resize"]
    assert attempts >= 5, writes
    assert "ResizeRetry" in event_reasons(kubectl, ns, "pool")
    counts = arm_requests(admin, world)
    print(
        f"ARM requests apply->Ready (2000 nodes, {attempts} resize attempts): {sum(counts.values())} "
        f"= {sum(counts.values()) / attempts:.1f} per attempt {dict(counts)}"
    )

    # Steady: slow polling only (AZBATCH_POLL_SLOW_SECONDS=30 in tests): at most one read round in 10 s.
    admin.reset_requests()
    wait_for(kubectl, "batchpool", ns, "pool", ".status.allocationState", "Steady")
    before = sum(arm_requests(admin, world).values())
    kubectl.run(
        "wait",
        "bp/pool",
        "-n",
        ns,
        "--for=jsonpath=.status.allocationState=Never",
        "--timeout=10s",
        check=False,
    )
    steady = sum(arm_requests(admin, world).values()) - before
    assert steady <= 2, steady


def test_resize_retries_exhausted(
    kubectl: Kubectl, operator: Operator, simulator: SimulatorHandle, world: World
) -> None:
    admin, ns = simulator.admin, world.namespace
    version = seed_gallery_version(admin, world)
    admin.reset_requests()
    kubectl.apply(fixed_pool(world, version, dedicated=1000, timeout="PT5M", max_attempts=2, backoff=1))
    obj = wait_condition(kubectl, "batchpool", ns, "pool", "Stalled", "ResizeRetriesExhausted", timeout=90)
    status = obj["status"]
    assert status["resizeAttempts"] == 2
    assert status["currentDedicatedNodes"] == 800
    assert status["lastResizeError"]["code"].lower() == "allocationtimedout"
    message = condition(obj, "Stalled")["message"]
    for part in ("maxAttempts=2", "800 dedicated"):
        assert part in message, message
    assert condition(obj, "Ready")["status"] == "False"
    writes = pool_writes(admin, world)
    assert writes == Counter({"Pool_Create": 1, "Batch.Pool_Resize": 1}), writes
    warnings = [e for e in events_for(kubectl, ns, "pool") if e["reason"] == "ResizeRetriesExhausted"]
    assert warnings
    assert warnings[0]["type"] == "Warning"

    # Raising maxAttempts lets it continue without any other change.
    kubectl.run(
        "patch", "bp", "pool", "-n", ns, "--type=merge", "-p", '{"spec":{"resizeRetry":{"maxAttempts":5}}}'
    )
    obj = wait_condition(kubectl, "batchpool", ns, "pool", "Ready", "Succeeded", timeout=60)
    assert obj["status"]["currentDedicatedNodes"] == 1000


def test_quota_exceeded_heals_when_the_quota_is_raised(
    kubectl: Kubectl, operator: Operator, simulator: SimulatorHandle, world: World
) -> None:
    admin, ns = simulator.admin, world.namespace
    admin.patch_resource(world.account_id, {"dedicatedCoreQuota": 20})  # 10 x Standard_D2s_v5
    version = seed_gallery_version(admin, world)
    kubectl.apply(fixed_pool(world, version, dedicated=20))
    obj = wait_condition(kubectl, "batchpool", ns, "pool", "Stalled", "QuotaExceeded", timeout=60)
    assert obj["status"]["currentDedicatedNodes"] == 10
    assert obj["status"]["lastResizeError"]["code"] == "AccountCoreQuotaReached"
    message = condition(obj, "Stalled")["message"]
    for part in ("dedicated core quota", "retries the resize"):
        assert part in message, message
    generation = obj["metadata"]["generation"]

    admin.patch_resource(world.account_id, {"dedicatedCoreQuota": 100})
    obj = wait_condition(kubectl, "batchpool", ns, "pool", "Ready", "Succeeded", timeout=60)
    assert obj["status"]["currentDedicatedNodes"] == 20
    assert obj["metadata"]["generation"] == generation, "healed without touching the object"
    assert condition(obj, "Stalled")["status"] == "False"


def test_image_deleted_out_of_band_is_explained(
    kubectl: Kubectl, operator: Operator, simulator: SimulatorHandle, world: World
) -> None:
    admin, ns = simulator.admin, world.namespace
    version = seed_gallery_version(admin, world)
    kubectl.apply(fixed_pool(world, version, dedicated=3))
    wait_condition(kubectl, "batchpool", ns, "pool", "Ready", "Succeeded", timeout=60)

    admin.delete_resource(version)
    patch_fixed_scale(kubectl, ns, "pool", targetDedicatedNodes=6)
    obj = wait_condition(kubectl, "batchpool", ns, "pool", "Stalled", "ImageNotFound", timeout=60)
    assert obj["status"]["lastResizeError"]["code"] == "AllocationFailed"
    assert obj["status"]["currentDedicatedNodes"] == 3
    message = condition(obj, "Stalled")["message"]
    for part in (version, "whole life", "AllocationFailed"):
        assert part in message, message
    assert condition(obj, "Ready")["status"] == "False"


def test_target_change_mid_resize_stops_and_resizes(
    kubectl: Kubectl, operator: Operator, simulator: SimulatorHandle, world: World
) -> None:
    admin, ns = simulator.admin, world.namespace
    version = seed_gallery_version(admin, world)
    admin.reset_requests()
    kubectl.apply(fixed_pool(world, version, dedicated=1000, timeout="PT10M"))
    wait_for(kubectl, "batchpool", ns, "pool", ".status.allocationState", "Resizing", timeout=60)
    patch_fixed_scale(kubectl, ns, "pool", targetDedicatedNodes=30)
    obj = wait_condition(kubectl, "batchpool", ns, "pool", "Ready", "Succeeded", timeout=60)
    assert obj["status"]["currentDedicatedNodes"] == 30
    assert obj["status"]["targetDedicatedNodes"] == 30
    writes = pool_writes(admin, world)
    assert writes["Pool_Create"] == 1, writes
    assert writes["Pool_StopResize"] == 1, writes
    assert writes["Pool_Update"] == 1, writes
    assert "StoppingResize" in event_reasons(kubectl, ns, "pool")
