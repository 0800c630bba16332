"""A ManagedImage being deleted while pools use it: quiet, deletion-aware waiting.

- waiting for users (ImageInUse) costs no Azure request and logs at INFO, not an ERROR per retry;
- a pool naming the image's gallery version by `spec.image.id` holds the image like a
  `managedImageRef` does;
- a pool applied while the image is being deleted waits (ImageNotReady) instead of being created on
  a version about to go.
"""

from __future__ import annotations

import time
from typing import Any

from azbatch_operator.devtools.stack import Operator
from tests.e2e.campaign_support import wait_until
from tests.e2e.conftest import SimulatorHandle, World, wait_condition
from tests.e2e.test_batch_pool_resize import condition
from tests.e2e.test_smoke_flow import image_manifest, pool_manifest
from tests.kube import Kubectl

#: The ImageInUse wait is measured over this window (a rate needs an interval) and scaled to an hour.
WINDOW_SECONDS = 60


def image_rg_requests(simulator: SimulatorHandle, world: World) -> int:
    """ARM requests the simulator saw on this test's image resource group (image, version, ...)."""
    group = f"/resourcegroups/{world.images_rg.lower()}/"
    return sum(1 for e in simulator.admin.requests()["recent"] if group in str(e["path"]).lower())


def by_id(world: World, name: str, image_id: str) -> dict[str, Any]:
    doc: dict[str, Any] = pool_manifest(world, name)
    doc["spec"]["image"] = {"id": image_id}
    return doc


def test_waiting_for_users_costs_no_arm_call_and_new_pools_wait(
    kubectl: Kubectl, operator: Operator, simulator: SimulatorHandle, world: World
) -> None:
    ns = world.namespace
    kubectl.apply(image_manifest(world, "img"))
    image = wait_condition(kubectl, "managedimage", ns, "img", "Ready", "Succeeded", timeout=120)
    version = image["status"]["galleryImageVersionId"]
    # One pool by reference, one by the version's id: both hold the image.
    kubectl.apply(pool_manifest(world, "by-ref", image="img", nodes=1))
    kubectl.apply(by_id(world, "by-id", version))
    for name in ("by-ref", "by-id"):
        wait_condition(kubectl, "batchpool", ns, name, "Ready", "Succeeded", timeout=90)

    kubectl.run("delete", "managedimage/img", "-n", ns, "--wait=false")
    image = wait_condition(
        kubectl, "managedimage", ns, "img", "Ready", "ImageInUse", status="False", timeout=60
    )
    users = {u["name"] for u in image["status"]["usedBy"]}
    assert users == {"by-ref", "by-id"}, image["status"]["usedBy"]
    assert f"{ns}/by-id" in condition(image, "Ready")["message"]

    # A pool applied now must not be created on a version about to go.
    kubectl.apply(pool_manifest(world, "late", image="img", nodes=1))
    late = wait_condition(kubectl, "batchpool", ns, "late", "Reconciling", "ImageNotReady", timeout=60)
    assert "being deleted" in condition(late, "Reconciling")["message"]
    assert simulator.admin.resource(world.pool_id("late")) is None
    late_by_id = by_id(world, "late-by-id", version)
    kubectl.apply(late_by_id)
    wait_condition(kubectl, "batchpool", ns, "late-by-id", "Reconciling", "ImageNotReady", timeout=60)
    assert simulator.admin.resource(world.pool_id("late-by-id")) is None

    def users_listed() -> set[str]:
        obj = kubectl.json("get", "managedimage/img", "-n", ns)
        return {u["name"] for u in (obj.get("status") or {}).get("usedBy") or []}

    wait_until("the late pools listed as users", lambda: users_listed() >= {"late", "late-by-id"}, timeout=90)
    assert users_listed() == {"by-ref", "by-id", "late", "late-by-id"}

    # The wait itself: no Azure request on the image's resources, no ERROR line per retry.
    log_before = operator.log_file.read_text(errors="replace")
    before = image_rg_requests(simulator, world)
    time.sleep(WINDOW_SECONDS)
    calls = image_rg_requests(simulator, world) - before
    per_hour = calls * 3600 / WINDOW_SECONDS
    print(f"ImageInUse wait: {calls} ARM requests in {WINDOW_SECONDS} s = {per_hour:.0f} per hour")
    assert calls == 0
    new_lines = operator.log_file.read_text(errors="replace")[len(log_before) :].splitlines()
    mine = [line for line in new_lines if f"{ns}/img]" in line]
    assert not [line for line in mine if "[ERROR" in line], mine
    waits = [
        line for line in operator.log_file.read_text(errors="replace").splitlines() if f"{ns}/img]" in line
    ]
    assert any("[INFO" in line and "deletion waits for" in line for line in waits), waits[-10:]

    # Once the pools go, deletion proceeds by itself.
    kubectl.run("delete", "batchpools", "--all", "-n", ns, "--timeout=120s", timeout=150)
    kubectl.run("wait", "managedimage/img", "-n", ns, "--for=delete", "--timeout=90s", timeout=120)
    assert simulator.admin.resource(version) is None
