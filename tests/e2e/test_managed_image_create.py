"""ManagedImage creation: from snapshots, from a prepared VM, published to a gallery."""

from __future__ import annotations

from azbatch_operator.devtools.stack import Operator
from tests.e2e.conftest import SimulatorHandle, World, seed_world, wait_condition
from tests.e2e.managed_image_support import (
    DEFINITIONS,
    IMAGES,
    SNAPSHOTS,
    VERSIONS,
    arm_requests_for,
    condition,
    event_reasons,
    image_manifest,
    in_rg,
    snapshot_source,
    vm_source,
)
from tests.kube import Kubectl


def test_snapshot_source_becomes_ready(
    kubectl: Kubectl, operator: Operator, simulator: SimulatorHandle, world: World
) -> None:
    ns = world.namespace
    kubectl.apply(image_manifest(world, "snapimg", snapshot_source(world), hyperVGeneration="V2"))
    obj = wait_condition(kubectl, "managedimage", ns, "snapimg", "Ready", reason="Succeeded", timeout=60)

    status = obj["status"]
    image_id = f"{world.rg_id(world.images_rg)}/providers/Microsoft.Compute/images/snapimg"
    assert status["imageId"].lower() == image_id.lower()
    assert status["provisioningState"] == "Succeeded"
    assert [s.lower() for s in status["snapshotIds"]] == [
        world.snapshot_id("os-snap").lower(),
        world.snapshot_id("data0-snap").lower(),
    ]
    gen = obj["metadata"]["generation"]
    assert status["observedGeneration"] == gen
    assert all(c["observedGeneration"] == gen for c in status["conditions"])
    assert condition(obj, "Stalled")["status"] == "False"

    # The image Azure holds is the one the spec asked for: OS + data disk by LUN, Gen2.
    images = in_rg(simulator.admin, world, IMAGES)
    assert len(images) == 1
    props = images[0]["properties"]
    assert props["hyperVGeneration"] == "V2"
    os_disk = props["storageProfile"]["osDisk"]
    assert (os_disk["osType"], os_disk["osState"]) == ("Linux", "Generalized")
    assert os_disk["snapshot"]["id"].lower() == world.snapshot_id("os-snap").lower()
    data = props["storageProfile"]["dataDisks"]
    assert [(d["lun"], d["snapshot"]["id"].lower()) for d in data] == [
        (0, world.snapshot_id("data0-snap").lower())
    ]
    # User-supplied snapshots are used, never copied; no gallery asked for, none touched.
    assert len(in_rg(simulator.admin, world, SNAPSHOTS)) == 2
    assert in_rg(simulator.admin, world, VERSIONS) == []
    assert ("Normal", "Succeeded") in event_reasons(kubectl, ns, "snapimg")


def test_vm_source_snapshots_disks_then_images_them(
    kubectl: Kubectl, operator: Operator, simulator: SimulatorHandle, namespace: str
) -> None:
    world = seed_world(
        simulator.admin,
        namespace,
        vm={"dataDisks": [{"lun": 0, "name": "d0", "sizeGB": 128}, {"lun": 3, "name": "d3", "sizeGB": 32}]},
    )
    kubectl.apply(image_manifest(world, "vmimg", vm_source(world)))
    obj = wait_condition(kubectl, "managedimage", namespace, "vmimg", "Ready", reason="Succeeded", timeout=60)

    snapshot_ids = [s.lower() for s in obj["status"]["snapshotIds"]]
    assert len(snapshot_ids) == 3  # OS + two data disks
    in_azure = {
        str(s["id"]).lower(): s
        for s in in_rg(simulator.admin, world, SNAPSHOTS)
        if str(s["id"]).lower() in snapshot_ids
    }
    assert sorted(in_azure) == sorted(snapshot_ids)
    for snap in in_azure.values():
        assert snap["tags"]["azbatch.io-owner"] == f"{namespace}/vmimg"
        assert snap["tags"]["azbatch.io-uid"] == obj["metadata"]["uid"]
    (image,) = in_rg(simulator.admin, world, IMAGES)
    profile = image["properties"]["storageProfile"]
    assert profile["osDisk"]["snapshot"]["id"].lower() == snapshot_ids[0]
    assert sorted((d["lun"], d["snapshot"]["id"].lower()) for d in profile["dataDisks"]) == [
        (0, snapshot_ids[1]),
        (3, snapshot_ids[2]),
    ]
    assert obj["status"]["imageId"].lower() == str(image["id"]).lower()
    reasons = event_reasons(kubectl, namespace, "vmimg")
    assert ("Normal", "Snapshotting") in reasons
    assert ("Normal", "Succeeded") in reasons


def test_gallery_publish_with_replicas_and_regions(
    kubectl: Kubectl, operator: Operator, simulator: SimulatorHandle, world: World
) -> None:
    ns = world.namespace
    simulator.admin.reset_requests()
    kubectl.apply(
        image_manifest(
            world,
            "galimg",
            snapshot_source(world),
            gallery={
                "imageDefinition": "render",
                "version": "1.2.3",
                "replicaCount": 2,
                "targetRegions": ["westeurope", "northeurope"],
            },
        )
    )
    obj = wait_condition(kubectl, "managedimage", ns, "galimg", "Ready", reason="Succeeded", timeout=90)
    apply_to_ready = arm_requests_for(simulator.admin, world)

    version_id = f"{world.gallery_id}/images/render/versions/1.2.3"
    assert obj["status"]["galleryImageVersionId"].lower() == version_id.lower()
    (definition,) = in_rg(simulator.admin, world, DEFINITIONS)
    dprops = definition["properties"]
    assert (dprops["osType"], dprops["osState"], dprops["hyperVGeneration"]) == ("Linux", "Generalized", "V1")
    (version,) = in_rg(simulator.admin, world, VERSIONS)
    assert version["properties"]["provisioningState"] == "Succeeded"
    regions = {
        r["name"].replace(" ", "").lower(): r["regionalReplicaCount"]
        for r in version["properties"]["publishingProfile"]["targetRegions"]
    }
    assert regions == {"westeurope": 2, "northeurope": 2}
    assert version["properties"]["storageProfile"]["source"]["id"].lower() == obj["status"]["imageId"].lower()
    reasons = event_reasons(kubectl, ns, "galimg")
    assert ("Normal", "Publishing") in reasons or ("Normal", "Replicating") in reasons

    # Cost of one ManagedImage from apply to Ready (writes and reads on its resources).
    writes = [r for r in apply_to_ready if r["method"] in ("PUT", "PATCH", "DELETE")]
    print(
        f"\nARM requests apply->Ready (snapshot source + gallery): {len(apply_to_ready)} "
        f"({len(writes)} writes: {sorted(r['operation'] for r in writes)})"
    )
    assert len(writes) == 3  # image, definition, version: one PUT each
    assert len(apply_to_ready) < 60


def test_definition_mismatch_stalls_with_the_difference(
    kubectl: Kubectl, operator: Operator, simulator: SimulatorHandle, world: World
) -> None:
    ns = world.namespace
    simulator.admin.seed(
        {
            "subscriptions": [
                {
                    "id": world.subscription,
                    "resourceGroups": [
                        {
                            "name": world.images_rg,
                            "location": "westeurope",
                            "galleries": [
                                {
                                    "name": "gallery1",
                                    "images": [
                                        {
                                            "name": "legacy",
                                            "osType": "Linux",
                                            "osState": "Specialized",
                                            "hyperVGeneration": "V1",
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
    kubectl.apply(
        image_manifest(
            world,
            "mismatch",
            snapshot_source(world),
            gallery={"imageDefinition": "legacy", "version": "1.0.0"},
            hyperVGeneration="V2",
        )
    )
    obj = wait_condition(kubectl, "managedimage", ns, "mismatch", "Stalled", timeout=60)
    message = condition(obj, "Stalled")["message"]
    assert "osState is Specialized (want Generalized)" in message
    assert "hyperVGeneration is V1 (want V2)" in message
    assert "osType is" not in message  # only what differs
    assert "spec.gallery.imageDefinition" in message  # what to do
    assert condition(obj, "Ready")["status"] == "False"
    # Nothing published into the incompatible definition, and the definition is left as it was.
    assert in_rg(simulator.admin, world, VERSIONS) == []
    (definition,) = in_rg(simulator.admin, world, DEFINITIONS)
    assert definition["properties"]["osState"] == "Specialized"
    assert ("Warning", condition(obj, "Stalled")["reason"]) in event_reasons(kubectl, ns, "mismatch")
