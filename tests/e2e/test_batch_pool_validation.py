"""BatchPool checks before any write (seed S4, S11), adoption of an existing pool, and autoscale."""

from __future__ import annotations

from azbatch_operator.devtools.stack import Operator
from tests.e2e.conftest import (
    SUBSCRIPTION,
    TENANT,
    SimulatorHandle,
    World,
    seed_world,
    wait_condition,
    wait_for,
)
from tests.e2e.test_batch_pool_resize import (
    arm_requests,
    condition,
    event_reasons,
    fixed_pool,
    pool_writes,
    seed_gallery_version,
)
from tests.kube import Kubectl


def test_image_in_another_region_is_refused_before_any_write(
    kubectl: Kubectl, operator: Operator, simulator: SimulatorHandle, namespace: str
) -> None:
    admin = simulator.admin
    world = seed_world(admin, namespace, batch_location="eastus")
    version = seed_gallery_version(admin, world, regions=("westeurope",))
    admin.reset_requests()
    kubectl.apply(fixed_pool(world, version, dedicated=2))
    obj = wait_condition(
        kubectl, "batchpool", namespace, "pool", "Stalled", "ImageRegionMismatch", timeout=60
    )
    message = condition(obj, "Stalled")["message"]
    for part in (version, "eastus", "westeurope"):
        assert part in message.replace("West Europe", "westeurope"), message
    assert condition(obj, "Ready")["status"] == "False"
    assert obj["status"]["accountPoolAllocationMode"] == "BatchService"
    assert not pool_writes(admin, world), pool_writes(admin, world)
    assert admin.resource(world.pool_id("pool")) is None
    assert "ImageRegionMismatch" in event_reasons(kubectl, namespace, "pool")


def test_missing_account_is_explained(
    kubectl: Kubectl, operator: Operator, simulator: SimulatorHandle, world: World
) -> None:
    version = seed_gallery_version(simulator.admin, world)
    manifest = fixed_pool(world, version)
    manifest["spec"]["accountId"] = world.account_id + "-nope"
    kubectl.apply(manifest)
    obj = wait_condition(kubectl, "batchpool", world.namespace, "pool", "Stalled", "InvalidSpec", timeout=60)
    assert "was not found" in condition(obj, "Stalled")["message"]
    assert not pool_writes(simulator.admin, world)


def test_existing_pool_is_adopted_and_a_different_one_is_not_touched(
    kubectl: Kubectl, operator: Operator, simulator: SimulatorHandle, world: World
) -> None:
    admin, ns = simulator.admin, world.namespace
    version = seed_gallery_version(admin, world)

    def existing(name: str, vm_size: str) -> dict[str, object]:
        return {
            "name": name,
            "vmSize": vm_size,
            "deploymentConfiguration": {
                "virtualMachineConfiguration": {
                    "imageReference": {"id": version},
                    "nodeAgentSkuId": "batch.node.ubuntu 22.04",
                }
            },
            "scaleSettings": {"fixedScale": {"targetDedicatedNodes": 2}},
        }

    admin.seed(
        {
            "subscriptions": [
                {
                    "id": SUBSCRIPTION,
                    "tenant": TENANT,
                    "resourceGroups": [
                        {
                            "name": world.batch_rg,
                            "location": "westeurope",
                            "batchAccounts": [
                                {
                                    "name": world.account_name,
                                    "pools": [
                                        existing("render", "Standard_D2s_v5"),
                                        existing("other", "Standard_D4s_v5"),
                                    ],
                                }
                            ],
                        }
                    ],
                }
            ]
        }
    )
    admin.reset_requests()
    kubectl.apply(fixed_pool(world, version, name="render", dedicated=4))
    kubectl.apply(fixed_pool(world, version, name="other", dedicated=2))

    obj = wait_condition(kubectl, "batchpool", ns, "render", "Ready", "Succeeded", timeout=60)
    assert obj["status"]["currentDedicatedNodes"] == 4
    assert obj["status"]["poolId"].lower() == world.pool_id("render").lower()
    assert "Adopted" in event_reasons(kubectl, ns, "render")

    other = wait_condition(kubectl, "batchpool", ns, "other", "Stalled", "InvalidSpec", timeout=60)
    message = condition(other, "Stalled")["message"]
    assert "vmSize is Standard_D4s_v5 (spec: Standard_D2s_v5)" in message, message

    writes = pool_writes(admin, world)
    assert writes["Pool_Create"] == 0, writes  # never a PUT on an existing pool
    # The adopted pool gets the operator's ownership metadata, then its resize to 4.
    assert writes["Pool_Update"] == 2, writes
    untouched = admin.resource(world.pool_id("other"))
    assert untouched is not None
    assert untouched["properties"]["vmSize"] == "Standard_D4s_v5"


def test_autoscale_applies_formula_and_mirrors_the_pool(
    kubectl: Kubectl, operator: Operator, simulator: SimulatorHandle, world: World
) -> None:
    admin, ns = simulator.admin, world.namespace
    version = seed_gallery_version(admin, world)
    manifest = fixed_pool(world, version)
    manifest["spec"]["scale"] = {
        "auto": {"formula": "$TargetDedicatedNodes = 4;", "evaluationInterval": "PT5M"}
    }
    admin.reset_requests()
    kubectl.apply(manifest)
    wait_for(kubectl, "batchpool", ns, "pool", ".status.currentDedicatedNodes", "4", timeout=60)
    obj = wait_condition(kubectl, "batchpool", ns, "pool", "Ready", "Succeeded", timeout=30)
    assert obj["status"].get("resizeAttempts", 0) == 0
    assert obj["status"]["targetDedicatedNodes"] == 4  # from the pool's last autoscale evaluation
    row = kubectl.run("get", "bp", "pool", "-n", ns, "--no-headers").stdout.split()
    assert row[2:6] == ["4", "4", "Steady", "True"], row
    pool = admin.resource(world.pool_id("pool"))
    assert pool is not None
    assert pool["properties"]["scaleSettings"]["autoScale"] == {
        "formula": "$TargetDedicatedNodes = 4;",
        "evaluationInterval": "PT5M",
    }

    kubectl.run(
        "patch",
        "bp",
        "pool",
        "-n",
        ns,
        "--type=merge",
        "-p",
        '{"spec":{"scale":{"auto":{"formula":"$TargetDedicatedNodes = 2;"}}}}',
    )
    wait_for(kubectl, "batchpool", ns, "pool", ".status.currentDedicatedNodes", "2", timeout=60)
    obj = wait_condition(kubectl, "batchpool", ns, "pool", "Ready", "Succeeded", timeout=30)
    assert obj["status"]["observedGeneration"] == obj["metadata"]["generation"]
    writes = pool_writes(admin, world)
    assert writes == {"Pool_Create": 1, "Pool_Update": 1}, writes
    reads = arm_requests(admin, world)
    assert reads["Pool_Get"] + reads["Pool_ListByBatchAccount"] >= 2, reads  # the pool was read again
