"""Gallery regions as the Gallery RP writes them, end to end.

Azure answers a gallery image version's `targetRegions[].name` with display names ("West
Europe", "North Europe") whatever the request sent, and refuses to drop a replicated region unless
`safetyProfile.allowDeletionOfReplicatedLocations` is true. The operator must compare regions
normalised (no endless re-replication, no false ImageRegionMismatch) and allow the removal of a
region a user takes out of spec.gallery.targetRegions.
"""

from __future__ import annotations

from azbatch_operator.devtools.stack import Operator
from tests.e2e.conftest import SimulatorHandle, seed_world, wait_condition, wait_for
from tests.e2e.managed_image_support import (
    VERSIONS,
    arm_requests_for,
    image_manifest,
    in_rg,
    pool_manifest,
    snapshot_source,
)
from tests.kube import Kubectl


def _regions(version: dict[str, object]) -> list[str]:
    profile = version["properties"]["publishingProfile"]  # type: ignore[index]
    return [str(t["name"]) for t in profile["targetRegions"]]


def test_display_name_regions_are_the_spec_regions_and_a_removed_region_is_dropped(
    kubectl: Kubectl, operator: Operator, simulator: SimulatorHandle, namespace: str
) -> None:
    admin = simulator.admin
    world = seed_world(admin, namespace, batch_location="northeurope")
    gallery = {
        "imageDefinition": "render",
        "version": "1.0.0",
        "targetRegions": ["westeurope", "northeurope"],
    }
    kubectl.apply(image_manifest(world, "img", snapshot_source(world), gallery=gallery))
    wait_condition(kubectl, "managedimage", namespace, "img", "Ready", reason="Succeeded", timeout=120)
    (version,) = in_rg(admin, world, VERSIONS)
    assert _regions(version) == ["West Europe", "North Europe"]

    # A pool in North Europe accepts the version Azure reports replicated to "North Europe".
    kubectl.apply(pool_manifest(world, "pool", "img"))
    pool = wait_condition(kubectl, "batchpool", namespace, "pool", "Ready", reason="Succeeded", timeout=120)
    assert pool["status"]["imageReference"].lower() == version["id"].lower()

    # Steady: display names never read as a replication difference.
    admin.reset_requests()
    kubectl.run(
        "wait",
        "mimg/img",
        "-n",
        namespace,
        "--for=jsonpath=.status.provisioningState=Never",
        "--timeout=8s",
        check=False,
    )
    writes = [r for r in arm_requests_for(admin, world) if r["method"] in ("PUT", "PATCH", "DELETE")]
    assert writes == [], writes

    # Taking a region out of the spec drops it in Azure (the operator allows the deletion).
    kubectl.run(
        "patch",
        "mimg",
        "img",
        "-n",
        namespace,
        "--type=merge",
        "-p",
        '{"spec":{"gallery":{"targetRegions":["westeurope"]}}}',
    )
    generation = kubectl.json("get", "mimg", "img", "-n", namespace)["metadata"]["generation"]
    wait_for(kubectl, "managedimage", namespace, "img", "{.status.observedGeneration}", str(generation))
    obj = wait_condition(kubectl, "managedimage", namespace, "img", "Ready", reason="Succeeded", timeout=120)
    assert obj["status"]["observedGeneration"] == generation
    (version,) = in_rg(admin, world, VERSIONS)
    assert _regions(version) == ["West Europe"]
    assert version["properties"]["safetyProfile"]["allowDeletionOfReplicatedLocations"] is True
    updates = [r for r in arm_requests_for(admin, world) if r["operation"] == "GalleryImageVersions_Update"]
    assert [r["status"] for r in updates] == [200], updates
