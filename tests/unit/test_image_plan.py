from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from azbatch_operator.api import ManagedImageSpec
from azbatch_operator.reconcile import names
from azbatch_operator.reconcile.conditions import Reason
from azbatch_operator.reconcile.image_plan import ObservedImage, image_targets, plan_image
from azbatch_operator.reconcile.plan import (
    CreateGalleryVersion,
    CreateImage,
    CreateSnapshot,
    Done,
    EnsureGalleryDefinition,
    Plan,
    Stall,
    UpdateGalleryReplication,
    Wait,
)
from azbatch_operator.settings import Settings
from tests.unit.builders import GALLERY_ID, META, NOW, RG, SUB, VM_ID, arm, disk_id, vm, written

pytestmark = pytest.mark.unit

SETTINGS = Settings(default_subscription_id=SUB)
OURS = names.owner_tags(META)


def spec(**overrides: Any) -> ManagedImageSpec:
    body: dict[str, Any] = {
        "resourceGroup": "images-rg",
        "location": "westeurope",
        "hyperVGeneration": "V2",
        "source": {"virtualMachine": {"id": VM_ID}},
        "gallery": {"galleryId": GALLERY_ID, "imageDefinition": "render-node", "version": "1.0.0"},
    }
    body.update(overrides)
    return ManagedImageSpec.model_validate(body)


SPEC = spec()
T = image_targets(META, SPEC, SETTINGS)
OS_SNAP = T.snapshot_id(META, None)
DATA_SNAP = T.snapshot_id(META, 0)


def snaps(state: str = "Succeeded") -> dict[str, Any]:
    return {OS_SNAP.lower(): arm(OS_SNAP, state, OURS), DATA_SNAP.lower(): arm(DATA_SNAP, state, OURS)}


def plan(observed: ObservedImage, status: dict[str, Any] | None = None, s: ManagedImageSpec = SPEC) -> Plan:
    return written("managedimages", plan_image(META, s, status or {}, observed, NOW, SETTINGS))


def cond(p: Plan, type_: str = "Ready") -> dict[str, Any]:
    return next(dict(c) for c in p.conditions if c["type"] == type_)


def test_targets() -> None:
    assert T.image_id == f"{RG}/providers/Microsoft.Compute/images/render-node-v1"
    assert T.gallery_version_id == f"{GALLERY_ID}/images/render-node/versions/1.0.0"
    assert OS_SNAP.endswith("/snapshots/team-a-render-node-v1-1234abcd-os")


def test_preflight_failure_stalls_before_any_snapshot() -> None:
    p = plan(ObservedImage(vm=vm(plan={"publisher": "acme", "product": "p", "name": "n"})))
    assert isinstance(p.action, Stall)
    assert p.action.reason is Reason.PREFLIGHT_FAILED
    assert cond(p, "Stalled")["status"] == "True"
    assert "vm-first-party-image" in cond(p)["message"]


def test_first_snapshot_is_the_os_disk() -> None:
    p = plan(ObservedImage(vm=vm()))
    assert isinstance(p.action, CreateSnapshot)
    assert p.action.resource_id == OS_SNAP
    assert p.action.source_disk_id == disk_id("prep-vm-os")
    assert p.action.params["tags"] == OURS
    props = p.action.params["properties"]
    assert props["creationData"] == {"createOption": "Copy", "sourceResourceId": disk_id("prep-vm-os")}
    assert props["osType"] == "Linux"
    assert p.status["snapshotIds"] == [OS_SNAP, DATA_SNAP]
    assert p.status["operations"][0]["resourceId"] == OS_SNAP
    assert cond(p, "Reconciling")["status"] == "True"


def test_recently_requested_create_is_not_repeated() -> None:
    first = plan(ObservedImage(vm=vm()))
    again = plan_image(
        META, SPEC, dict(first.status), ObservedImage(vm=vm()), NOW + timedelta(seconds=30), SETTINGS
    )
    assert isinstance(again.action, Wait)
    late = plan_image(
        META, SPEC, dict(first.status), ObservedImage(vm=vm()), NOW + timedelta(hours=1), SETTINGS
    )
    assert isinstance(late.action, CreateSnapshot)  # lost request: PUT again (idempotent, same name)


def test_snapshot_in_progress_waits_failed_stalls() -> None:
    p = plan(ObservedImage(vm=vm(), snapshots={OS_SNAP.lower(): arm(OS_SNAP, "Creating", OURS)}))
    assert isinstance(p.action, Wait)
    p = plan(
        ObservedImage(
            vm=vm(),
            snapshots={
                OS_SNAP.lower(): arm(OS_SNAP, "Failed", OURS, error={"code": "Boom", "message": "no"})
            },
        )
    )
    assert isinstance(p.action, Stall)
    assert p.action.reason is Reason.AZURE_ERROR
    assert "Boom: no" in p.action.message


def test_foreign_snapshot_with_our_name_is_not_used() -> None:
    p = plan(
        ObservedImage(vm=vm(), snapshots={OS_SNAP.lower(): arm(OS_SNAP, tags={"azbatch.io-uid": "other"})})
    )
    assert isinstance(p.action, Stall)
    assert p.action.reason is Reason.ALREADY_OWNED
    untagged = plan(ObservedImage(vm=vm(), snapshots={OS_SNAP.lower(): arm(OS_SNAP, tags={})}))
    assert isinstance(untagged.action, Stall)
    assert untagged.action.reason is Reason.INVALID_SPEC


def test_an_image_or_version_of_another_managedimage_is_already_owned_and_not_recorded() -> None:
    theirs = {"azbatch.io-owner": "team-b/render-node", "azbatch.io-uid": "uid-b"}
    p = plan(ObservedImage(vm=vm(), image=arm(T.image_id, tags=theirs)))
    assert isinstance(p.action, Stall)
    assert p.action.reason is Reason.ALREADY_OWNED
    assert "team-b/render-node" in p.action.message
    assert "imageName" in p.action.message
    assert p.status["imageId"] is None  # never recorded, so never handed to pools or deleted


def test_image_after_snapshots() -> None:
    p = plan(ObservedImage(vm=vm(), snapshots=snaps()))
    assert isinstance(p.action, CreateImage)
    profile = p.action.params["properties"]["storageProfile"]
    assert profile["osDisk"] == {"osType": "Linux", "osState": "Generalized", "snapshot": {"id": OS_SNAP}}
    assert profile["dataDisks"] == [{"lun": 0, "snapshot": {"id": DATA_SNAP}}]
    assert p.action.params["properties"]["hyperVGeneration"] == "V2"


def test_missing_gallery_stalls() -> None:
    image = arm(T.image_id, tags=OURS, storageProfile={"osDisk": {"osType": "Linux"}})
    p = plan(ObservedImage(vm=None, image=image))  # VM may be gone once the image exists
    assert isinstance(p.action, Stall)
    assert "gallery" in p.action.message


def observed_to_gallery(**kw: Any) -> ObservedImage:
    image = arm(T.image_id, tags=OURS, storageProfile={"osDisk": {"osType": "Linux"}})
    return ObservedImage(image=image, gallery={"id": GALLERY_ID, "location": "westeurope"}, **kw)


def test_gallery_definition_created_when_absent() -> None:
    p = plan(observed_to_gallery())
    assert isinstance(p.action, EnsureGalleryDefinition)
    props = p.action.params["properties"]
    assert (props["osType"], props["osState"], props["hyperVGeneration"]) == ("Linux", "Generalized", "V2")
    assert p.status["imageId"] == T.image_id


def test_gallery_definition_mismatch_stalls_with_difference() -> None:
    definition = arm(str(T.gallery_definition_id), osType="Linux", osState="Generalized")  # V1 implied
    p = plan(observed_to_gallery(gallery_definition=definition))
    assert isinstance(p.action, Stall)
    assert "hyperVGeneration is V1 (want V2)" in p.action.message


def test_version_then_replication_then_ready() -> None:
    definition = arm(
        str(T.gallery_definition_id), osType="Linux", osState="Generalized", hyperVGeneration="V2"
    )
    p = plan(observed_to_gallery(gallery_definition=definition))
    assert isinstance(p.action, CreateGalleryVersion)
    assert p.action.params["properties"]["storageProfile"]["source"]["id"] == T.image_id
    regions = p.action.params["properties"]["publishingProfile"]["targetRegions"]
    assert regions == [{"name": "westeurope", "regionalReplicaCount": 1}]

    version = arm(
        str(T.gallery_version_id), tags=OURS, publishingProfile={"targetRegions": regions, "replicaCount": 1}
    )
    done = plan(observed_to_gallery(gallery_definition=definition, gallery_version=version))
    assert isinstance(done.action, Done)
    assert cond(done)["status"] == "True"
    assert done.status["galleryImageVersionId"] == T.gallery_version_id
    assert done.status["provisioningState"] == "Succeeded"

    wider = spec(
        gallery={
            "galleryId": GALLERY_ID,
            "imageDefinition": "render-node",
            "version": "1.0.0",
            "targetRegions": ["westeurope", "northeurope"],
            "replicaCount": 2,
        }
    )
    upd = plan(observed_to_gallery(gallery_definition=definition, gallery_version=version), s=wider)
    assert isinstance(upd.action, UpdateGalleryReplication)
    assert upd.action.params["properties"]["publishingProfile"]["replicaCount"] == 2


def test_snapshot_source_without_gallery() -> None:
    os_id = f"{RG}/providers/Microsoft.Compute/snapshots/os-snap"
    s = spec(source={"snapshots": {"osDisk": {"snapshotId": os_id, "osType": "Linux"}}}, gallery=None)
    missing = plan(ObservedImage(), s=s)
    assert isinstance(missing.action, Stall)
    assert missing.action.reason is Reason.PREFLIGHT_FAILED
    p = plan(
        ObservedImage(snapshots={os_id: {"location": "westeurope", "properties": {"osType": "Linux"}}}), s=s
    )
    assert isinstance(p.action, CreateImage)
    done = plan(ObservedImage(image=arm(T.image_id, tags=OURS)), s=s)
    assert isinstance(done.action, Done)
    assert done.status["snapshotIds"] == [os_id]


def test_invalid_spec() -> None:
    p = plan(ObservedImage(), s=spec(imageName="-bad"))
    assert isinstance(p.action, Stall)
    assert p.action.reason is Reason.INVALID_SPEC
    no_sub = plan_image(META, SPEC, {}, ObservedImage(), NOW, Settings())
    assert isinstance(no_sub.action, Stall)
    assert "AZURE_SUBSCRIPTION_ID" in no_sub.action.message


def test_what_is_read_before_planning_depends_on_the_source_and_the_gallery() -> None:
    # VM source: one snapshot per disk the VM shows; none while the VM is missing.
    assert T.snapshots_to_read(META, vm()) == [OS_SNAP, DATA_SNAP]
    assert T.snapshots_to_read(META, None) == []
    # Snapshot source: the user's, whatever the VM.
    user_os = f"{RG}/providers/Microsoft.Compute/snapshots/users-os"
    user_data = f"{RG}/providers/Microsoft.Compute/snapshots/users-data"
    from_snaps = spec(
        source={
            "snapshots": {
                "osDisk": {"snapshotId": user_os, "osType": "Linux"},
                "dataDisks": [{"lun": 1, "snapshotId": user_data}],
            }
        }
    )
    targets = image_targets(META, from_snaps, SETTINGS)
    assert targets.snapshots_to_read(META, None) == [user_os, user_data]
    # The gallery's three ids, only with a gallery.
    assert T.gallery_ids == (GALLERY_ID, f"{GALLERY_ID}/images/render-node", T.gallery_version_id)
    no_gallery = image_targets(META, spec(gallery=None), SETTINGS)
    assert no_gallery.gallery_ids is None
