from __future__ import annotations

from typing import Any

import pytest

from azbatch_operator.api import ManagedImageSpec
from azbatch_operator.reconcile import arm_ids, names
from azbatch_operator.reconcile.conditions import Reason
from azbatch_operator.reconcile.errors import classify
from azbatch_operator.reconcile.image_delete import (
    DELETING_SETTLE_SECONDS,
    ObservedForDelete,
    announcement,
    plan_image_delete,
    releases_when_refused,
    snapshots_to_delete,
    vm_to_read,
)
from azbatch_operator.reconcile.image_plan import ImageTargets, image_targets
from azbatch_operator.reconcile.plan import DeleteResource, Plan, Release, Stall, Wait
from azbatch_operator.settings import Settings
from tests.unit.builders import META, NOW, RG, SUB, VM_ID, arm, vm, written

pytestmark = pytest.mark.unit

SPEC = ManagedImageSpec.model_validate(
    {"resourceGroup": "images-rg", "location": "westeurope", "source": {"virtualMachine": {"id": VM_ID}}}
)
OURS = names.owner_tags(META)
IMG = f"{RG}/providers/Microsoft.Compute/images/img"
VER = f"{RG}/providers/Microsoft.Compute/galleries/g/images/d/versions/1.0.0"
SNAP = f"{RG}/providers/Microsoft.Compute/snapshots/s-os"
USER_SNAP = f"{RG}/providers/Microsoft.Compute/snapshots/users-own"


def run(
    observed: ObservedForDelete,
    used_by: list[str] | None = None,
    spec: ManagedImageSpec = SPEC,
    status: dict[str, Any] | None = None,
) -> Plan:
    return written(
        "managedimages", plan_image_delete(META, spec, status or {}, observed, used_by or [], NOW, Settings())
    )


def everything() -> ObservedForDelete:
    return ObservedForDelete(
        gallery_version=arm(VER, tags=OURS),
        image=arm(IMG, tags=OURS),
        snapshots={SNAP.lower(): arm(SNAP, tags=OURS), USER_SNAP.lower(): arm(USER_SNAP)},
    )


def test_blocked_while_pools_use_it() -> None:
    p = run(everything(), ["ns/b", "ns/a"])
    assert isinstance(p.action, Stall)
    assert p.action.reason is Reason.IMAGE_IN_USE
    assert "ns/a, ns/b" in p.action.message


def test_orphan_releases_without_deleting() -> None:
    orphan = SPEC.model_copy(update={"deletion_policy": "Orphan"})
    assert isinstance(run(everything(), spec=orphan).action, Release)


def test_order_version_image_snapshots_then_release() -> None:
    observed = everything()
    seen = []
    for _ in range(5):
        p = run(observed)
        if isinstance(p.action, Release):
            break
        assert isinstance(p.action, DeleteResource)
        seen.append(arm_ids.parse(p.action.resource_id).resource_type)
        gone = p.action.resource_id.lower()
        observed = ObservedForDelete(
            gallery_version=None if arm_ids.same(gone, VER) else observed.gallery_version,
            image=None if arm_ids.same(gone, IMG) else observed.image,
            snapshots={k: v for k, v in observed.snapshots.items() if k != gone},
        )
    assert seen == [arm_ids.GALLERY_IMAGE_VERSION, arm_ids.MANAGED_IMAGE, arm_ids.SNAPSHOT]
    assert isinstance(p.action, Release)  # the user's own snapshot was never touched


def test_waits_for_deleting_resource() -> None:
    p = run(ObservedForDelete(image=arm(IMG, "Deleting", OURS)))
    assert isinstance(p.action, Wait)


def test_just_requested_delete_is_confirmed_before_next() -> None:
    first = run(ObservedForDelete(image=arm(IMG, tags=OURS)))
    assert isinstance(first.action, DeleteResource)
    second = run(ObservedForDelete(image=arm(IMG, tags=OURS)), status=dict(first.status))
    assert isinstance(second.action, Wait)


def test_a_create_in_flight_is_waited_for_then_deleted_before_release() -> None:
    from datetime import timedelta

    from azbatch_operator.reconcile import lro

    status = {"operations": [lro.Operation("CreateImage", IMG, NOW).to_status()]}
    # Azure does not show the image yet: releasing now would leave it behind once it lands.
    waiting = run(ObservedForDelete(), status=status)
    assert isinstance(waiting.action, Wait)
    assert IMG in waiting.conditions[0]["message"]
    # It landed: deleted like anything else of ours.
    landed = run(ObservedForDelete(image=arm(IMG, tags=OURS)), status=status)
    assert isinstance(landed.action, DeleteResource)
    assert landed.action.resource_id == IMG
    # A record older than the grace period is a create that never landed.
    late = plan_image_delete(
        META,
        SPEC,
        status,
        ObservedForDelete(),
        [],
        NOW + timedelta(seconds=Settings().create_grace_seconds + 1),
        Settings(),
    )
    assert isinstance(late.action, Release)
    # The gallery image definition is never deleted, so its create is not waited for.
    definition = {
        "operations": [
            lro.Operation("EnsureGalleryDefinition", VER.rsplit("/versions", 1)[0], NOW).to_status()
        ]
    }
    assert isinstance(run(ObservedForDelete(), status=definition).action, Release)


def test_another_objects_resources_are_never_deleted() -> None:
    theirs = {names.OWNER_TAG: "other/img", names.UID_TAG: "uid-other"}
    observed = ObservedForDelete(gallery_version=arm(VER, tags=theirs), image=arm(IMG, tags=theirs))
    assert isinstance(run(observed, status={"imageId": IMG, "galleryImageVersionId": VER}).action, Release)


# --- the finalizer's decisions around the planner (handlers/managed_image.py performs them) -------
SNAPSHOT_SPEC = ManagedImageSpec.model_validate(
    {
        "resourceGroup": "images-rg",
        "location": "westeurope",
        "source": {"snapshots": {"osDisk": {"snapshotId": USER_SNAP, "osType": "Linux"}}},
    }
)
FORBIDDEN = classify(403, "AuthorizationFailed", "no role")


def targets(spec: ManagedImageSpec = SPEC) -> ImageTargets:
    return image_targets(META, spec, Settings(default_subscription_id=SUB))


def test_deleting_is_announced_once_before_the_first_azure_delete_and_never_for_orphan() -> None:
    first = announcement(META, SPEC, False, NOW)
    assert first is not None
    written("managedimages", first)
    assert first.requeue_after == DELETING_SETTLE_SECONDS
    assert isinstance(first.action, Wait)
    assert first.status == {"observedGeneration": META.generation, "usedBy": []}
    ready = next(c for c in first.conditions if c["type"] == "Ready")
    assert (ready["status"], ready["reason"]) == ("False", Reason.DELETING)
    assert announcement(META, SPEC, True, NOW) is None
    orphan = SPEC.model_copy(update={"deletion_policy": "Orphan"})
    assert announcement(META, orphan, False, NOW) is None


def test_the_vm_is_read_only_when_status_never_recorded_the_snapshots() -> None:
    assert vm_to_read(targets(), {}) == VM_ID
    assert vm_to_read(targets(), {"snapshotIds": [SNAP]}) is None
    assert vm_to_read(targets(SNAPSHOT_SPEC), {}) is None


def test_snapshots_to_delete_are_the_recorded_ones_plus_one_per_vm_disk_without_repeats() -> None:
    t = targets()
    os_snap, data0 = t.snapshot_id(META, None), t.snapshot_id(META, 0)
    two_disks = vm(
        properties={
            "storageProfile": {"dataDisks": [{"lun": 0, "name": "d0"}, {"name": "no-lun"}, {"lun": 3}]}
        }
    )
    # Nothing recorded (a crash before status): the OS disk's and each data disk's by LUN.
    assert snapshots_to_delete(META, t, {}, two_disks) == [os_snap, data0, t.snapshot_id(META, 3)]
    # The VM is gone: the OS disk's deterministic name still is.
    assert snapshots_to_delete(META, t, {}, None) == [os_snap]
    # Recorded: those, and the OS disk's once (case-insensitively), without asking the VM.
    recorded = {"snapshotIds": [os_snap.upper(), data0]}
    assert snapshots_to_delete(META, t, recorded, two_disks) == [os_snap.upper(), data0]
    # A snapshot source: only what status recorded (the user's snapshots are never derived).
    assert snapshots_to_delete(META, targets(SNAPSHOT_SPEC), {"snapshotIds": [SNAP]}, None) == [SNAP]
    assert snapshots_to_delete(META, targets(SNAPSHOT_SPEC), {}, None) == []


def test_a_refused_read_releases_the_finalizer_only_when_nothing_was_ever_built() -> None:
    assert releases_when_refused(SNAPSHOT_SPEC, {}, FORBIDDEN)
    assert not releases_when_refused(SNAPSHOT_SPEC, {}, None)
    assert not releases_when_refused(SNAPSHOT_SPEC, {}, classify(404, "ResourceNotFound", "gone"))
    assert not releases_when_refused(SNAPSHOT_SPEC, {}, classify(500, "InternalServerError", "x"))
    assert not releases_when_refused(SNAPSHOT_SPEC, {"imageId": IMG}, FORBIDDEN)
    assert not releases_when_refused(SNAPSHOT_SPEC, {"galleryImageVersionId": VER}, FORBIDDEN)
    # A VM source: the operator took snapshots (billed, its own) before any image existed.
    assert not releases_when_refused(SPEC, {}, FORBIDDEN)
