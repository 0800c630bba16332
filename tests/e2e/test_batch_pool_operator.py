"""BatchPool behaviour that needs the operator process itself: SIGKILL mid-resize, and operator
settings (the per-image node limits of seed S7, lowered so two small pools exceed them).

Like tests/e2e/test_managed_image_crash.py these restart the session operator instead of running a
second one beside it (two operators on one object would race); it is always running again, with
the session's settings, when a test here ends.
"""

from __future__ import annotations

from azbatch_operator.devtools import processes
from azbatch_operator.devtools.stack import Operator
from tests.e2e.conftest import SimulatorHandle, World, events_for, patch_fixed_scale, wait_condition, wait_for
from tests.e2e.test_batch_pool_resize import (
    POOL_TYPE,
    condition,
    fixed_pool,
    pool_writes,
    seed_gallery_version,
)
from tests.kube import Kubectl


def test_sigkill_mid_resize_converges_without_extra_pools(
    kubectl: Kubectl, restartable: Operator, simulator: SimulatorHandle, world: World
) -> None:
    admin, ns = simulator.admin, world.namespace
    version = seed_gallery_version(admin, world)
    admin.reset_requests()
    kubectl.apply(fixed_pool(world, version, dedicated=1000, timeout="PT5M", backoff=1))
    # Kill right after the pool PUT reached Azure, before the operator could record it in status.
    processes.wait_until(lambda: admin.resource(world.pool_id("pool")) is not None, 60, "the pool PUT")
    restartable.kill()
    restartable.start()
    # And again in the middle of the second resize attempt.
    wait_for(kubectl, "batchpool", ns, "pool", ".status.resizeAttempts", "2", timeout=60)
    restartable.kill()
    # While the operator is down, Azure carries on: let the resize attempt end without it.
    processes.wait_until(
        lambda: (
            (admin.resource(world.pool_id("pool")) or {}).get("properties", {}).get("allocationState")
            == "Steady"
        ),
        60,
        "the resize to end while the operator is down",
    )
    restartable.start()

    obj = wait_condition(kubectl, "batchpool", ns, "pool", "Ready", "Succeeded", timeout=90)
    assert obj["status"]["currentDedicatedNodes"] == 1000
    pools = [
        p for p in admin.resources(POOL_TYPE) if p["id"].lower().startswith(world.account_id.lower() + "/")
    ]
    assert len(pools) == 1, [p["id"] for p in pools]
    writes = pool_writes(admin, world)
    assert writes["Pool_Create"] == 1, writes


def test_image_node_limit_is_an_operator_setting(
    kubectl: Kubectl, restartable: Operator, simulator: SimulatorHandle, world: World
) -> None:
    admin, ns = simulator.admin, world.namespace
    restartable.stop()
    restartable.env = {
        **restartable.env,
        "AZBATCH_IMAGE_MAX_DEDICATED_NODES": "50",
        "AZBATCH_IMAGE_MAX_LOW_PRIORITY_NODES": "20",
    }
    restartable.start()
    version = seed_gallery_version(admin, world)
    kubectl.apply(fixed_pool(world, version, name="a", dedicated=30, low_priority=5))
    wait_condition(kubectl, "batchpool", ns, "a", "Ready", "Succeeded", timeout=60)
    admin.reset_requests()
    kubectl.apply(fixed_pool(world, version, name="b", dedicated=30, low_priority=5))

    b = wait_condition(kubectl, "batchpool", ns, "b", "Stalled", "ImageNodeLimitExceeded", timeout=60)
    message = condition(b, "Stalled")["message"]
    assert "60 dedicated nodes exceed the limit of 50" in message, message
    for part in (f"{ns}/a (30 dedicated, 5 low-priority)", f"{ns}/b (30 dedicated"):
        assert part in message, message
    assert admin.resource(world.pool_id("b")) is None
    assert pool_writes(admin, world)["Pool_Create"] == 0
    assert condition(b, "ImageShared")["status"] == "True"
    shared = [e for e in events_for(kubectl, ns, "b") if e["reason"] == "ImageShared"]
    assert shared
    assert shared[0]["type"] == "Warning"
    assert f"{ns}/a" in shared[0]["message"]
    # The pool already at its target keeps running; it is told about the sharing too.
    a = wait_condition(kubectl, "batchpool", ns, "a", "ImageShared", timeout=30)
    assert condition(a, "Ready")["status"] == "True"

    # Low-priority counts separately: 20 + 5 > 20 even when dedicated fits.
    patch_fixed_scale(kubectl, ns, "b", targetDedicatedNodes=20, targetLowPriorityNodes=16)
    wait_for(kubectl, "batchpool", ns, "b", ".status.observedGeneration", "2", timeout=30)
    b = wait_condition(kubectl, "batchpool", ns, "b", "Stalled", "ImageNodeLimitExceeded", timeout=30)
    assert "21 low-priority nodes exceed the limit of 20" in condition(b, "Stalled")["message"]

    # Within both limits: created and Ready.
    patch_fixed_scale(kubectl, ns, "b", targetLowPriorityNodes=15)
    b = wait_condition(kubectl, "batchpool", ns, "b", "Ready", "Succeeded", timeout=60)
    assert (b["status"]["currentDedicatedNodes"], b["status"]["currentLowPriorityNodes"]) == (20, 15)
