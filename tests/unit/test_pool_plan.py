from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from azbatch_operator.api import BatchPoolSpec
from azbatch_operator.reconcile.conditions import Reason
from azbatch_operator.reconcile.errors import classify
from azbatch_operator.reconcile.names import ObjectMeta, owner_tags
from azbatch_operator.reconcile.plan import (
    AdoptPool,
    CreatePool,
    DeletePool,
    Done,
    Plan,
    Release,
    ResizePool,
    Stall,
    StopResize,
    UpdateAutoScale,
    Wait,
)
from azbatch_operator.reconcile.pool_plan import (
    AccountInfo,
    ResolvedImage,
    plan_pool,
    plan_pool_delete,
    pool_resource_id,
    pool_to_delete,
    releases_when_refused,
)
from azbatch_operator.settings import Settings
from tests.unit.builders import ACCOUNT_ID, GALLERY_ID, NOW, RG, limit_verdict, pool, written

pytestmark = pytest.mark.unit

META = ObjectMeta("team-a", "render", "uid-1")
VERSION = f"{GALLERY_ID}/images/render-node/versions/1.0.0"
IMAGE = ResolvedImage(VERSION, target_regions=("westeurope",))
ACCOUNT = AccountInfo(ACCOUNT_ID, "westeurope", "BatchService")
POOL_ID = f"{ACCOUNT_ID}/pools/render"
S = Settings()


def spec(**overrides: Any) -> BatchPoolSpec:
    body: dict[str, Any] = {
        "accountId": ACCOUNT_ID,
        "vmSize": "Standard_D4s_v5",
        "nodeAgentSkuId": "batch.node.ubuntu 22.04",
        "image": {"managedImageRef": {"name": "render-node-v1"}},
        "scale": {"fixed": {"targetDedicatedNodes": 800}},
    }
    body.update(overrides)
    return BatchPoolSpec.model_validate(body)


SPEC = spec()


def run(
    observed: dict[str, Any] | None,
    status: dict[str, Any] | None = None,
    image: ResolvedImage = IMAGE,
    account: AccountInfo | None = ACCOUNT,
    s: BatchPoolSpec = SPEC,
    limit: Any = None,
    now: datetime = NOW,
) -> Plan:
    return written("batchpools", plan_pool(META, s, status or {}, image, account, observed, limit, now, S))


def ours(**kw: Any) -> dict[str, Any]:
    """A pool this object created: stamped with its ownership in the pool's metadata."""
    found = pool(image_id=VERSION, **kw)
    found["properties"]["metadata"] = [{"name": k, "value": v} for k, v in owner_tags(META).items()]
    return found


def test_pool_id() -> None:
    assert pool_resource_id(META, SPEC) == POOL_ID


def test_create_body_in_arm_shape() -> None:
    p = run(None)
    assert isinstance(p.action, CreatePool)
    props = p.action.params["properties"]
    vmc = props["deploymentConfiguration"]["virtualMachineConfiguration"]
    assert vmc == {"imageReference": {"id": VERSION}, "nodeAgentSkuId": "batch.node.ubuntu 22.04"}
    assert props["scaleSettings"]["fixedScale"] == {
        "targetDedicatedNodes": 800,
        "targetLowPriorityNodes": 0,
        "resizeTimeout": "PT25M",
        "nodeDeallocationOption": "Requeue",
    }
    assert p.status["poolId"] == POOL_ID
    assert p.status["accountPoolAllocationMode"] == "BatchService"
    assert p.status["resizeAttempts"] == 1


def test_autoscale_create_body() -> None:
    s = spec(scale={"auto": {"formula": "$TargetDedicatedNodes=2;"}})
    p = run(None, s=s)
    assert isinstance(p.action, CreatePool)
    assert p.action.params["properties"]["scaleSettings"] == {
        "autoScale": {"formula": "$TargetDedicatedNodes=2;", "evaluationInterval": "PT15M"}
    }


@pytest.mark.parametrize(
    ("image", "reason", "action"),
    [
        (
            ResolvedImage(None, ready=False, reason=Reason.IMAGE_NOT_READY, message="building"),
            Reason.IMAGE_NOT_READY,
            Wait,
        ),
        (
            ResolvedImage(None, ready=False, reason=Reason.IMAGE_NOT_FOUND, message="gone"),
            Reason.IMAGE_NOT_FOUND,
            Stall,
        ),
        (
            ResolvedImage(None, ready=False, reason=Reason.ACCESS_DENIED, message="403"),
            Reason.ACCESS_DENIED,
            Stall,
        ),
        (ResolvedImage(VERSION, target_regions=("eastus",)), Reason.IMAGE_REGION_MISMATCH, Stall),
        (
            ResolvedImage("/subscriptions/other/resourceGroups/g/providers/Microsoft.Compute/images/i"),
            Reason.IMAGE_REGION_MISMATCH,
            Stall,
        ),
        (
            ResolvedImage(f"{RG}/providers/Microsoft.Compute/images/i", location="East US"),
            Reason.IMAGE_REGION_MISMATCH,
            Stall,
        ),
    ],
)
def test_checks_before_create(image: ResolvedImage, reason: Reason, action: type) -> None:
    p = run(None, image=image)
    assert isinstance(p.action, action)
    ready = next(c for c in p.conditions if c["type"] == "Ready")
    assert ready["reason"] == reason
    assert ready["status"] == "False"


def test_same_region_managed_image_is_accepted() -> None:
    image = ResolvedImage(f"{RG}/providers/Microsoft.Compute/images/i", location="West Europe")
    assert isinstance(run(None, image=image).action, CreatePool)


def test_limit_refuses_create_and_warns_when_shared() -> None:
    over = limit_verdict("team-a/render", (800, 0), 500, 1000)
    p = run(None, limit=over)
    assert isinstance(p.action, Stall)
    assert p.action.reason is Reason.IMAGE_NODE_LIMIT_EXCEEDED
    shared = limit_verdict("team-a/render", (800, 0), 2500, others=(("team-b/x", 10, 0),))
    p = run(None, limit=shared)
    assert isinstance(p.action, CreatePool)
    flag = next(c for c in p.conditions if c["type"] == "ImageShared")
    assert flag["status"] == "True"
    assert "team-b/x" in p.warnings[0]


def test_account_missing_or_bad_spec() -> None:
    assert isinstance(run(None, account=None).action, Stall)
    bad = spec(accountId=f"{RG}/providers/Microsoft.Compute/images/x")
    p = run(None, s=bad)
    assert isinstance(p.action, Stall)
    assert p.action.reason is Reason.INVALID_SPEC


def test_existing_matching_pool_is_adopted_never_put() -> None:
    untagged = pool(image_id=VERSION, current=(800, 0), target=(800, 0))
    untagged["properties"]["metadata"] = [{"name": "team", "value": "render"}]
    p = run(untagged)
    assert isinstance(p.action, AdoptPool)
    assert p.status["poolId"] == POOL_ID
    # Adoption stamps this object's ownership, keeping the pool's other metadata.
    assert p.action.params["properties"]["metadata"] == [
        {"name": "team", "value": "render"},
        *({"name": k, "value": v} for k, v in owner_tags(META).items()),
    ]
    done = run(ours(current=(800, 0), target=(800, 0)), status={"poolId": POOL_ID.upper()})
    assert isinstance(done.action, Done)
    assert done.status["currentDedicatedNodes"] == 800


def test_existing_pool_with_other_immutables_stalls() -> None:
    p = run(pool(image_id="/subscriptions/s/other", vm_size="Standard_F2"))
    assert isinstance(p.action, Stall)
    assert p.action.reason is Reason.INVALID_SPEC
    assert "vmSize is Standard_F2" in p.action.message
    assert "image is /subscriptions/s/other" in p.action.message


def test_fixed_pool_delegates_to_resize_planner() -> None:
    status = {"poolId": POOL_ID, "resizeAttempts": 1}
    p = run(ours(state="Resizing", current=(10, 0), target=(400, 0)), status=status)
    assert isinstance(p.action, StopResize)
    p = run(ours(current=(400, 0), target=(400, 0)), status=status)
    assert isinstance(p.action, ResizePool)
    assert p.status["poolId"] == POOL_ID
    assert p.status["allocationState"] == "Steady"


def test_autoscale_update_and_done() -> None:
    s = spec(scale={"auto": {"formula": "$TargetDedicatedNodes=5;"}})
    status = {"poolId": POOL_ID}
    p = run(ours(target=None), status=status, s=s)
    assert isinstance(p.action, UpdateAutoScale)
    assert (
        p.action.params["properties"]["scaleSettings"]["autoScale"]["formula"] == "$TargetDedicatedNodes=5;"
    )
    p = run(ours(state="Resizing", target=(3, 0)), status=status, s=s)
    assert isinstance(p.action, StopResize)
    same = spec(scale={"auto": {"formula": "$TargetDedicatedNodes=1;"}})
    assert isinstance(run(ours(target=None), status=status, s=same).action, Done)


def test_pool_being_deleted_waits() -> None:
    p = run(ours(provisioning="Deleting"), status={"poolId": POOL_ID})
    assert isinstance(p.action, Wait)


def test_delete_plan() -> None:
    status = {"poolId": POOL_ID}
    assert isinstance(plan_pool_delete(META, SPEC, status, ours(), NOW, S).action, DeletePool)
    assert isinstance(
        plan_pool_delete(META, SPEC, status, ours(provisioning="Deleting"), NOW, S).action, Wait
    )
    assert isinstance(plan_pool_delete(META, SPEC, status, None, NOW, S).action, Release)
    untagged = pool(image_id=VERSION)
    assert isinstance(plan_pool_delete(META, SPEC, {}, untagged, NOW, S).action, Release)  # never ours
    assert isinstance(plan_pool_delete(META, SPEC, status, untagged, NOW, S).action, DeletePool)  # adopted
    orphan = spec(deletionPolicy="Orphan")
    assert isinstance(plan_pool_delete(META, orphan, status, ours(), NOW, S).action, Release)


def test_delete_finds_a_pool_created_just_before_a_crash_by_its_uid_stamp() -> None:
    """PUT sent, operator killed before status.poolId was written, object deleted meanwhile."""
    stamped = ours()
    stamped["properties"]["metadata"] = [{"name": k, "value": v} for k, v in owner_tags(META).items()]
    assert isinstance(plan_pool_delete(META, SPEC, {}, stamped, NOW, S).action, DeletePool)
    other = ObjectMeta("team-a", "render", "uid-2")
    assert isinstance(plan_pool_delete(other, SPEC, {}, stamped, NOW, S).action, Release)


def test_autoscale_status_mirrors_the_last_evaluation() -> None:
    s = spec(scale={"auto": {"formula": "$TargetDedicatedNodes=1;"}})
    observed = ours(target=None, current=(1, 0))
    observed["properties"]["autoScaleRun"] = {
        "evaluationTime": "2026-01-02T03:00:00Z",
        "results": "$TargetDedicatedNodes=7;$TargetLowPriorityNodes=2;$NodeDeallocationOption=requeue",
    }
    p = run(observed, status={"poolId": POOL_ID}, s=s)
    assert isinstance(p.action, Done)
    assert (p.status["targetDedicatedNodes"], p.status["targetLowPriorityNodes"]) == (7, 2)
    assert p.status["currentDedicatedNodes"] == 1


def foreign(**kw: Any) -> dict[str, Any]:
    """The same pool name, created by a BatchPool in another namespace."""
    found = pool(image_id=VERSION, **kw)
    other = ObjectMeta("team-b", "render", "uid-other")
    found["properties"]["metadata"] = [{"name": k, "value": v} for k, v in owner_tags(other).items()]
    return found


def test_a_pool_tagged_by_another_object_is_already_owned_never_adopted_or_resized() -> None:
    for status in ({}, {"poolId": POOL_ID}):
        p = run(foreign(current=(10, 0), target=(10, 0)), status=status)
        assert isinstance(p.action, Stall)
        assert p.action.reason is Reason.ALREADY_OWNED
        assert "team-b/render" in p.action.message
        assert "uid-other" in p.action.message
        assert "poolName" in p.action.message
        # Nothing of the other's pool is recorded; a recorded id is removed (merge-patch None).
        assert p.status.get("poolId") is None
        assert "currentDedicatedNodes" not in p.status
        assert not p.status.get("operations")


def test_deleting_the_refused_object_leaves_the_owners_pool() -> None:
    for status in ({}, {"poolId": POOL_ID}):
        p = plan_pool_delete(META, SPEC, status, foreign(), NOW, S, POOL_ID)
        assert isinstance(p.action, Release)


def test_a_create_is_recorded_and_a_finalizer_waits_for_it_while_in_flight() -> None:
    created = run(None)
    assert isinstance(created.action, CreatePool)
    ops = created.status["operations"]
    assert [op["type"] for op in ops] == ["CreatePool"]
    # The finalizer finds no pool yet while the PUT is in flight: it waits instead of releasing.
    waiting = plan_pool_delete(META, SPEC, created.status, None, NOW, S, POOL_ID)
    assert isinstance(waiting.action, Wait)
    assert "waiting for the create" in waiting.conditions[0]["message"]
    # ...then deletes the pool once Azure shows it.
    landed = plan_pool_delete(META, SPEC, created.status, ours(), NOW, S, POOL_ID)
    assert isinstance(landed.action, DeletePool)
    # A record older than the grace period is a create that never landed.
    later = NOW + timedelta(seconds=S.create_grace_seconds + 1)
    assert isinstance(plan_pool_delete(META, SPEC, created.status, None, later, S, POOL_ID).action, Release)
    # Orphan never waits.
    orphan = spec(deletionPolicy="Orphan")
    assert isinstance(plan_pool_delete(META, orphan, created.status, None, NOW, S, POOL_ID).action, Release)


def test_a_recorded_create_not_visible_yet_is_waited_for_not_sent_twice() -> None:
    """A new leader finds its predecessor's create recorded and GET still 404: a second PUT could
    land after a deletion that saw (and deleted) only the first pool, leaving one nobody owns."""
    created = run(None)
    waiting = run(None, status={**created.status})
    assert isinstance(waiting.action, Wait)
    assert waiting.conditions[0]["reason"] == Reason.CREATING.value
    assert "to appear" in waiting.conditions[0]["message"]
    assert "operations" not in waiting.status, "the record stays until the pool is seen"
    # Past the grace period the create never landed: it is sent again (and recorded again).
    later = NOW + timedelta(seconds=S.create_grace_seconds + 1)
    again = run(None, status={**created.status}, now=later)
    assert isinstance(again.action, CreatePool)
    assert again.status["operations"][0]["startedAt"] != created.status["operations"][0]["startedAt"]


def test_the_pool_seen_clears_the_recorded_create_and_a_steady_pool_writes_nothing_more() -> None:
    created = run(None)
    seen = run(ours(current=(800, 0), target=(800, 0)), status={**created.status})
    assert seen.status["operations"] is None
    steady = run(ours(current=(800, 0), target=(800, 0)), status={"poolId": POOL_ID})
    assert "operations" not in steady.status


def test_our_own_pool_not_yet_in_status_is_taken_up_without_adoption() -> None:
    """A 412 after an SDK retry of our own PUT, or a crash before status: the uid stamp says ours."""
    p = run(ours(current=(0, 0), target=(800, 0)))
    assert not isinstance(p.action, (AdoptPool, Stall, CreatePool))
    assert p.status["poolId"] == POOL_ID


def test_a_checked_image_carries_the_answer_and_what_was_known_of_it() -> None:
    waiting = ResolvedImage(
        VERSION,
        ready=False,
        reason=Reason.IMAGE_NOT_READY,
        message="building",
        location="westeurope",
        target_regions=("westeurope", "northeurope"),
    )
    gone = waiting.checked(False)
    assert gone == ResolvedImage(
        VERSION, location="westeurope", target_regions=("westeurope", "northeurope"), exists=False
    )
    assert waiting.checked(True).exists is True
    assert waiting.checked(True).ready


def test_a_refused_read_releases_the_pool_finalizer_only_when_no_pool_was_recorded() -> None:
    forbidden = classify(403, "AuthorizationFailed", "no role")
    assert releases_when_refused({}, forbidden)
    assert not releases_when_refused({"poolId": POOL_ID}, forbidden)
    assert not releases_when_refused({}, None)
    assert not releases_when_refused({}, classify(409, "Conflict", "busy"))
    assert not releases_when_refused({}, classify(503, None))


def test_a_user_given_image_is_read_once_for_its_location_and_regions() -> None:
    given_id = ResolvedImage(VERSION)
    assert given_id.unread
    assert not ResolvedImage(None).unread
    assert not ResolvedImage(VERSION, location="westeurope").unread
    assert not ResolvedImage(VERSION, target_regions=("westeurope",)).unread
    version = {
        "location": "westeurope",
        "properties": {
            "publishingProfile": {"targetRegions": [{"name": "westeurope"}, {"name": "northeurope"}]}
        },
    }
    assert given_id.as_read(version) == ResolvedImage(
        VERSION, location="westeurope", target_regions=("westeurope", "northeurope"), exists=True
    )
    managed = given_id.as_read({"location": "westeurope", "properties": {}})
    assert (managed.location, managed.target_regions, managed.exists) == ("westeurope", None, True)
    gone = given_id.as_read(None)
    assert (gone.ready, gone.reason, gone.exists) == (False, Reason.IMAGE_NOT_FOUND, False)
    assert gone.message == f"image {VERSION} does not exist; check spec.image.id"


def test_an_account_is_its_location_and_allocation_mode() -> None:
    found = {"location": "westeurope", "properties": {"poolAllocationMode": "UserSubscription"}}
    assert AccountInfo.from_arm(ACCOUNT_ID, found) == AccountInfo(
        ACCOUNT_ID, "westeurope", "UserSubscription"
    )
    assert AccountInfo.from_arm(ACCOUNT_ID, {}) == AccountInfo(ACCOUNT_ID, "", None)


def test_the_finalizer_deletes_the_recorded_pool_else_its_own_and_nothing_never_valid() -> None:
    recorded = f"{ACCOUNT_ID}/pools/render-b"
    assert pool_to_delete(META, SPEC, {"poolId": recorded}) == recorded
    assert pool_to_delete(META, SPEC, {}) == POOL_ID
    assert pool_to_delete(META, SPEC, {"poolId": ""}) == POOL_ID
    never_valid = spec(
        accountId="/subscriptions/../resourceGroups/x/providers/Microsoft.Batch/batchAccounts/a"
    )
    assert pool_to_delete(META, never_valid, {}) is None
    # A pool once recorded is deleted even when the spec was later broken.
    assert pool_to_delete(META, never_valid, {"poolId": recorded}) == recorded
