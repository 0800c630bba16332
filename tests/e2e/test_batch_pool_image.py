"""A BatchPool on a ManagedImage: waits for it, uses its gallery version, and holds it until deleted."""

from __future__ import annotations

from azbatch_operator.devtools.stack import Operator
from tests.e2e.conftest import SimulatorHandle, World, wait_condition
from tests.e2e.test_batch_pool_resize import arm_requests, condition, event_reasons
from tests.e2e.test_smoke_flow import image_manifest, pool_manifest
from tests.kube import Kubectl


def test_pool_waits_for_image_then_holds_it_until_deleted(
    kubectl: Kubectl, operator: Operator, simulator: SimulatorHandle, world: World
) -> None:
    admin, ns = simulator.admin, world.namespace
    kubectl.apply(pool_manifest(world, nodes=3))
    waiting = wait_condition(kubectl, "batchpool", ns, "pool", "Reconciling", "ImageNotReady", timeout=60)
    assert f"{ns}/img" in condition(waiting, "Reconciling")["message"]
    assert condition(waiting, "Stalled")["status"] == "False"
    assert "imageReference" not in waiting["status"]

    kubectl.apply(image_manifest(world))
    img = wait_condition(kubectl, "managedimage", ns, "img", "Ready", timeout=90)
    pool = wait_condition(kubectl, "batchpool", ns, "pool", "Ready", "Succeeded", timeout=60)
    assert pool["status"]["imageReference"] == img["status"]["galleryImageVersionId"]
    in_azure = admin.resource(world.pool_id("pool"))
    assert in_azure is not None
    vmc = in_azure["properties"]["deploymentConfiguration"]["virtualMachineConfiguration"]
    assert vmc["imageReference"]["id"].lower() == img["status"]["galleryImageVersionId"].lower()

    # The image cannot go while the pool uses it.
    kubectl.run("delete", "managedimage", "img", "-n", ns, "--wait=false")
    held = wait_condition(kubectl, "managedimage", ns, "img", "Stalled", "ImageInUse", timeout=60)
    assert f"{ns}/pool" in condition(held, "Stalled")["message"]
    assert admin.resource(img["status"]["galleryImageVersionId"]) is not None

    # Deleting the pool (deletionPolicy Delete) removes it in Azure, then frees the image.
    admin.reset_requests()
    kubectl.run("delete", "bp", "pool", "-n", ns, "--timeout=60s")
    assert admin.resource(world.pool_id("pool")) is None
    assert arm_requests(admin, world)["Pool_Delete"] == 1
    kubectl.run("wait", "managedimage/img", "-n", ns, "--for=delete", "--timeout=90s")
    assert admin.resource(img["status"]["galleryImageVersionId"]) is None
    assert "ImageNotReady" in event_reasons(kubectl, ns, "pool")
