from __future__ import annotations

from typing import Any

import pytest

from azbatch_operator.api import ManagedImageSpec
from azbatch_operator.reconcile import arm_ids, names
from azbatch_operator.reconcile.conditions import Reason
from azbatch_operator.reconcile.image_delete import ObservedForDelete, plan_image_delete
from azbatch_operator.reconcile.plan import DeleteResource, Plan, Release, Stall, Wait
from azbatch_operator.settings import Settings
from tests.unit.builders import META, NOW, RG, VM_ID, arm, written

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
