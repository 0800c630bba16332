"""BatchPool when Batch cannot allocate nodes though quota and image are fine.

The simulator's world declares the VM sizes of one region (`batch.vmSizes` with `locations`, so
other tests' regions stay unconstrained) and how they allocate. The Batch account sits in that
region; the pool's gallery image version is replicated there.
"""

from __future__ import annotations

from collections import Counter

from azbatch_operator.devtools.stack import Operator
from azuresim.admin import AdminClient
from tests.e2e.conftest import SimulatorHandle, World, events_for, seed_world, wait_condition
from tests.e2e.test_batch_pool_resize import (
    arm_requests,
    condition,
    fixed_pool,
    pool_writes,
    seed_gallery_version,
)
from tests.kube import Kubectl

REGION = "swedencentral"
SKUS = [
    {"name": "Standard_D2s_v5", "locations": [REGION], "allocation": "capacity"},
    {"name": "Standard_A2_v2", "locations": [REGION], "lowPriorityCapable": False},
]


def _in_region(admin: AdminClient, namespace: str) -> tuple[World, str]:
    """This test's world with its Batch account in REGION and a gallery version replicated there."""
    admin.seed({"batch": {"vmSizes": SKUS}})
    world = seed_world(admin, namespace, batch_location=REGION)
    return world, seed_gallery_version(admin, world, regions=("westeurope", REGION))


def test_allocation_failed_with_the_image_present_checks_the_image_then_retries_until_exhausted(
    kubectl: Kubectl, operator: Operator, simulator: SimulatorHandle, namespace: str
) -> None:
    admin = simulator.admin
    world, version = _in_region(admin, namespace)
    admin.reset_requests()
    kubectl.apply(fixed_pool(world, version, dedicated=3, max_attempts=2, backoff=1))

    obj = wait_condition(
        kubectl, "batchpool", namespace, "pool", "Stalled", "ResizeRetriesExhausted", timeout=120
    )
    status = obj["status"]
    assert status["currentDedicatedNodes"] == 0
    assert status["resizeAttempts"] == 2
    assert status["lastResizeError"]["code"] == "AllocationFailed"
    message = condition(obj, "Stalled")["message"]
    assert "AllocationFailed" in message, message
    assert "maxAttempts=2" in message, message
    # The operator asked whether the image still exists (it does) before resizing again, and the
    # image it found kept the pool out of ImageNotFound.
    reads = arm_requests(admin, world)
    assert reads["GalleryImageVersions_Get"] >= 1, reads
    # The one retry is the data plane's Pool_Resize (it starts a resize even with unchanged targets).
    assert pool_writes(admin, world) == Counter({"Pool_Create": 1, "Batch.Pool_Resize": 1})
    assert "ResizeRetry" in [e["reason"] for e in events_for(kubectl, namespace, "pool")]
    assert condition(obj, "Ready")["status"] == "False"


def test_a_vm_size_incompatible_with_the_pool_stalls_invalid_spec_without_retrying(
    kubectl: Kubectl, operator: Operator, simulator: SimulatorHandle, namespace: str
) -> None:
    admin = simulator.admin
    world, version = _in_region(admin, namespace)
    admin.reset_requests()
    pool = fixed_pool(world, version, dedicated=0, low_priority=2, max_attempts=5, backoff=1)
    pool["spec"]["vmSize"] = "Standard_A2_v2"
    kubectl.apply(pool)

    obj = wait_condition(kubectl, "batchpool", namespace, "pool", "Stalled", "InvalidSpec", timeout=90)
    assert obj["status"]["lastResizeError"]["code"] == "IncompatibleVMSize"
    message = condition(obj, "Stalled")["message"]
    assert "spec.vmSize" in message, message
    assert "low-priority" in message, message
    assert pool_writes(admin, world) == Counter({"Pool_Create": 1}), "no resize that cannot succeed"


def test_a_vm_size_the_region_does_not_offer_is_refused_before_any_pool_exists(
    kubectl: Kubectl, operator: Operator, simulator: SimulatorHandle, namespace: str
) -> None:
    admin = simulator.admin
    world, version = _in_region(admin, namespace)
    pool = fixed_pool(world, version, dedicated=1)
    pool["spec"]["vmSize"] = "Standard_HB120rs_v3"
    kubectl.apply(pool)

    obj = wait_condition(kubectl, "batchpool", namespace, "pool", "Stalled", "InvalidSpec", timeout=90)
    message = condition(obj, "Stalled")["message"]
    assert "InvalidPropertyValue" in message, message
    assert admin.resource(world.pool_id("pool")) is None
