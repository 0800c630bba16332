"""The rollout state machine (reconcile/rollout.py) driven against a tiny model of Batch pools.

Each step plans from the model's pools and the status the previous steps wrote, carries out the
action on the model the way Batch does (a PUT creates a resizing pool, a resize moves nodes a few
per step, a DELETE goes through Deleting), and lets time pass.  Hypothesis picks the sizes, the
strategy, when the spec changes and which failure the new pool meets.
"""

from __future__ import annotations

import asyncio
import copy
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from azbatch_operator.api import BatchPoolSpec
from azbatch_operator.api.status import status_patch
from azbatch_operator.reconcile import pool_diff, rollout
from azbatch_operator.reconcile.conditions import Reason
from azbatch_operator.reconcile.names import ObjectMeta
from azbatch_operator.reconcile.plan import (
    AdoptPool,
    CheckImage,
    CreatePool,
    DeletePool,
    Plan,
    Release,
    ResizePool,
    StopResize,
    UpdateAutoScale,
    UpdatePool,
    Wait,
)
from azbatch_operator.reconcile.pool_plan import AccountInfo, ResolvedImage
from azbatch_operator.reconcile.pool_update import DesiredConfig
from azbatch_operator.settings import Settings
from tests.unit.builders import ACCOUNT_ID, GALLERY_ID, NOW, merge_patch

pytestmark = pytest.mark.unit

META = ObjectMeta("team-a", "render", "uid-1")
ACCOUNT = AccountInfo(ACCOUNT_ID, "westeurope", "BatchService")
BLUE = f"{ACCOUNT_ID}/pools/render"
GREEN = f"{ACCOUNT_ID}/pools/render-b"
S = Settings()


def version(v: str) -> str:
    return f"{GALLERY_ID}/images/render-node/versions/{v}"


def make_spec(
    image: str, nodes: int, strategy: str = "BlueGreen", vm: str = "Standard_D4s_v5"
) -> BatchPoolSpec:
    return BatchPoolSpec.model_validate(
        {
            "accountId": ACCOUNT_ID,
            "vmSize": vm,
            "nodeAgentSkuId": "batch.node.ubuntu 22.04",
            "image": {"id": image},
            "scale": {"fixed": {"targetDedicatedNodes": nodes}},
            "resizeRetry": {"maxAttempts": 2, "backoffSeconds": 20},
            "updateStrategy": {"type": strategy, "drain": "TaskCompletion"},
        }
    )


@dataclass
class Batch:
    """Pools as Batch keeps them; ``rate`` nodes join or leave per step."""

    pools: dict[str, dict[str, Any]] = field(default_factory=dict)
    rate: int = 3
    #: Pools created now only ever get this many nodes (quota), with the error Batch reports.
    cap: int | None = None
    cap_code: str = "AccountCoreQuotaReached"
    images_gone: set[str] = field(default_factory=set)
    max_pools: int = 0
    #: At most this many nodes join per resize (Batch's large-pool behaviour); the resize then ends
    #: with AllocationTimedOut, stamped with a transition time ahead of the operator's clock (as a
    #: time-compressed simulator does).
    per_resize: int | None = None
    deleted: list[str] = field(default_factory=list)
    created: list[str] = field(default_factory=list)

    def get(self, pid: str) -> dict[str, Any] | None:
        found = self.pools.get(pid.lower())
        return copy.deepcopy(found) if found else None

    def _resize(self, props: dict[str, Any], ded: int, low: int) -> None:
        props["scaleSettings"] = {"fixedScale": {"targetDedicatedNodes": ded, "targetLowPriorityNodes": low}}
        props["allocationState"] = "Resizing"
        props.pop("resizeOperationStatus", None)

    def apply(self, plan: Plan) -> None:
        match plan.action:
            case CreatePool(resource_id=rid, params=params):
                assert rid.lower() not in self.pools, f"PUT of an existing pool {rid}"
                props = copy.deepcopy(dict(params["properties"]))
                props.update(
                    provisioningState="Succeeded", currentDedicatedNodes=0, currentLowPriorityNodes=0
                )
                for key, default in pool_diff.DEFAULTS.items():  # Batch fills what the PUT left out
                    if props.get(key) is None:
                        props[key] = copy.deepcopy(default)
                fixed = props["scaleSettings"]["fixedScale"]
                self._resize(props, fixed["targetDedicatedNodes"], fixed["targetLowPriorityNodes"])
                props["_cap"] = self.cap
                self.pools[rid.lower()] = {"id": rid, "name": rid.rsplit("/", 1)[-1], "properties": props}
                self.created.append(rid)
            case ResizePool(resource_id=rid, target_dedicated_nodes=ded, target_low_priority_nodes=low):
                props = self.pools[rid.lower()]["properties"]
                assert props["allocationState"] == "Steady", "Batch refuses a resize while one runs"
                self._resize(props, ded, low)
            case StopResize(resource_id=rid):
                self.pools[rid.lower()]["properties"]["allocationState"] = "Steady"
            case UpdatePool(resource_id=rid, params=params) | AdoptPool(resource_id=rid, params=params):
                self.pools[rid.lower()]["properties"].update(copy.deepcopy(dict(params["properties"])))
            case UpdateAutoScale():
                raise AssertionError("fixed-scale pools only")
            case DeletePool(resource_id=rid):
                assert rid.lower() in self.pools
                self.pools[rid.lower()]["properties"]["provisioningState"] = "Deleting"
                self.deleted.append(rid)
            case _:
                pass
        self.max_pools = max(self.max_pools, len(self.pools))

    def tick(self) -> None:
        for pid, pool in list(self.pools.items()):
            props = pool["properties"]
            if props["provisioningState"] == "Deleting":
                del self.pools[pid]
                continue
            if props["allocationState"] != "Resizing":
                continue
            want = props["scaleSettings"]["fixedScale"]["targetDedicatedNodes"]
            cur = props["currentDedicatedNodes"]
            image = props["deploymentConfiguration"]["virtualMachineConfiguration"]["imageReference"]["id"]
            cap = props.get("_cap")
            if want > cur and image in self.images_gone:
                props["allocationState"] = "Steady"
                props["resizeOperationStatus"] = {"errors": [{"code": "AllocationFailed", "message": "gone"}]}
                continue
            limit = want if cap is None else min(want, cap)
            if self.per_resize is not None and want > cur:
                start = props.setdefault("_start", cur)
                limit = min(limit, start + self.per_resize)
            step = max(-self.rate, min(self.rate, limit - cur))
            props["currentDedicatedNodes"] = cur + step
            if props["currentDedicatedNodes"] == limit:
                props["allocationState"] = "Steady"
                props["allocationStateTransitionTime"] = "2026-01-02T03:00:00Z"
                props.pop("_start", None)
                if limit < want and cap is not None and limit == min(want, cap):
                    props["resizeOperationStatus"] = {"errors": [{"code": self.cap_code, "message": "quota"}]}
                elif limit < want:
                    props["allocationStateTransitionTime"] = "2027-01-01T00:00:00Z"
                    props["resizeOperationStatus"] = {
                        "errors": [{"code": "AllocationTimedOut", "message": "t"}]
                    }


def image_of(pool: dict[str, Any] | None) -> str | None:
    if pool is None:
        return None
    vmc = pool["properties"]["deploymentConfiguration"]["virtualMachineConfiguration"]
    return str(vmc["imageReference"]["id"])


@dataclass
class World:
    batch: Batch
    status: dict[str, Any] = field(default_factory=dict)
    gen: int = 1
    plans: list[Plan] = field(default_factory=list)
    now_step: int = 0

    def step(self, spec: BatchPoolSpec) -> Plan:
        meta = ObjectMeta(META.namespace, META.name, META.uid, self.gen)
        serving_id, other_id = rollout.pool_ids(BLUE, self.status)
        image_id = spec.image.id
        assert image_id is not None
        config = DesiredConfig.build(meta, spec, image_id)
        serving = self.batch.get(serving_id)
        other = (
            self.batch.get(other_id)
            if rollout.wants_other(spec, self.status, serving, config, other_id)
            else None
        )
        gone = image_id in self.batch.images_gone
        image = ResolvedImage(image_id, target_regions=("westeurope",))
        if gone and (serving is None or rollout.rollout_of(self.status)):
            image = ResolvedImage(
                image_id, ready=False, reason=Reason.IMAGE_NOT_FOUND, message="image gone", exists=False
            )
        now = NOW + timedelta(seconds=10 * self.now_step)
        pools = rollout.Pools(serving_id, serving, other_id, other)
        plan = rollout.plan(meta, spec, self.status, image, ACCOUNT, pools, None, now, S, config)
        if isinstance(plan.action, CheckImage):
            image = ResolvedImage(image_id, target_regions=("westeurope",), exists=not gone)
            plan = rollout.plan(meta, spec, self.status, image, ACCOUNT, pools, None, now, S, config)
        self.batch.apply(plan)
        # Written as the operator writes it (the status model's merge patch), kept as the
        # apiserver keeps it (RFC 7386: nested objects merge, null removes).
        patch = status_patch("batchpools", {**plan.status, "conditions": list(plan.conditions)})
        self.status = merge_patch(self.status, patch)
        self.plans.append(plan)
        self.batch.tick()
        self.now_step += 1
        return plan

    def cond(self, type_: str) -> dict[str, Any]:
        return next(dict(c) for c in self.status["conditions"] if c["type"] == type_)

    def serving(self) -> dict[str, Any] | None:
        return self.batch.get(str(self.status.get("poolId") or BLUE))


def converge(world: World, spec: BatchPoolSpec, steps: int = 200) -> None:
    for _ in range(steps):
        world.step(spec)
        ready = world.cond("Ready")["status"] == "True"
        if not world.status.get("rollout") and ready and world.cond("Reconciling")["status"] == "False":
            return
    raise AssertionError(f"no convergence: {world.status}")


def ready_world(image: str, nodes: int, strategy: str = "BlueGreen") -> World:
    world = World(Batch())
    converge(world, make_spec(image, nodes, strategy))
    assert len(world.batch.pools) == 1
    return world


# ---------------------------------------------------------------------------- examples


def test_alternate_names() -> None:
    assert rollout.alternate(BLUE) == GREEN
    assert rollout.alternate(GREEN) == BLUE
    long = f"{ACCOUNT_ID}/pools/{'x' * 64}"
    assert len(rollout.alternate(long).rsplit("/", 1)[-1]) == 64
    assert rollout.pool_ids(BLUE, {"poolId": GREEN}) == (GREEN, BLUE)
    assert rollout.pool_ids(BLUE, {}) == (BLUE, GREEN)


def test_blue_green_moves_the_pool_id_and_deletes_only_the_old_pool() -> None:
    world = ready_world(version("1"), 6)
    world.gen = 2
    spec = make_spec(version("2"), 6)
    world.step(spec)
    assert world.status["rollout"]["phase"] == "Creating"
    assert world.status["rollout"]["fromImage"] == version("1")
    assert world.status["rollout"]["toImage"] == version("2")
    assert world.cond("Ready")["status"] == "True"
    assert world.cond("Reconciling")["reason"] == "RollingOut"
    converge(world, spec)
    assert world.status["poolId"] == GREEN
    assert world.batch.deleted == [BLUE]
    assert image_of(world.batch.get(GREEN)) == version("2")
    assert world.batch.max_pools == 2


def test_the_new_pool_resizes_again_after_a_partial_resize() -> None:
    """The new pool's resize-retry bookkeeping (lastResizeError) is kept between passes, so a
    resize ended short with a transition time ahead of the operator's clock is retried."""
    world = ready_world(version("1"), 10)
    world.batch.per_resize = 6
    world.gen = 2
    spec = make_spec(version("2"), 10)
    converge(world, spec, steps=120)
    assert world.status["poolId"] == GREEN
    pool = world.batch.get(GREEN)
    assert pool is not None
    assert pool["properties"]["currentDedicatedNodes"] == 10


def test_a_steady_pool_costs_no_read_of_the_other_pool() -> None:
    world = ready_world(version("1"), 2)
    spec = make_spec(version("1"), 2)
    serving = world.batch.get(BLUE)
    config = DesiredConfig.build(META, spec, version("1"))
    assert not rollout.wants_other(spec, world.status, serving, config, GREEN)


def test_scale_to_zero_keeps_the_id() -> None:
    world = ready_world(version("1"), 4, "ScaleToZero")
    world.gen = 2
    spec = make_spec(version("1"), 4, "ScaleToZero", vm="Standard_D8s_v5")
    converge(world, spec)
    pool = world.batch.get(BLUE)
    assert pool is not None
    assert pool["properties"]["vmSize"] == "Standard_D8s_v5"
    assert pool["properties"]["currentDedicatedNodes"] == 4
    assert world.batch.created == [BLUE]
    assert world.batch.deleted == []


def test_manual_stalls() -> None:
    world = ready_world(version("1"), 2, "Manual")
    world.gen = 2
    plan = world.step(make_spec(version("2"), 2, "Manual"))
    assert world.cond("Stalled")["reason"] == "UpdateRequiresEmptyPool"
    assert "updateStrategy" in world.cond("Stalled")["message"]
    assert not isinstance(plan.action, CreatePool)


def test_quota_failure_deletes_the_new_pool_then_the_old_spec_ends_it() -> None:
    world = ready_world(version("1"), 6)
    world.batch.cap = 2
    world.gen = 2
    spec2 = make_spec(version("2"), 6)
    for _ in range(60):
        world.step(spec2)
        if world.status.get("rollout", {}).get("phase") == "Failed" and world.batch.get(GREEN) is None:
            break
    assert world.cond("Stalled")["reason"] == "RolloutFailed"
    assert "QuotaExceeded" in world.cond("Stalled")["message"]
    assert world.batch.deleted == [GREEN]
    # Nothing more happens on the same spec.
    before = len(world.batch.created)
    for _ in range(5):
        world.step(spec2)
    assert len(world.batch.created) == before
    assert world.batch.get(GREEN) is None
    world.gen = 3
    converge(world, make_spec(version("1"), 6))
    assert world.status["poolId"] == BLUE
    assert "rollout" not in world.status


def test_delete_plans_both_pools() -> None:
    world = ready_world(version("1"), 3)
    world.gen = 2
    spec = make_spec(version("2"), 3)
    for _ in range(3):
        world.step(spec)
    assert world.batch.get(GREEN) is not None
    targets = rollout.delete_targets(world.status, BLUE)
    assert targets == (GREEN,)
    others = {t: world.batch.get(t) for t in targets}
    found = rollout.plan_delete_others(META, spec, world.status, others, NOW, S)
    assert found is not None
    assert found.action == DeletePool(GREEN)
    assert not isinstance(found.action, Release)
    # Not found: gone, unless its create was sent within the grace period (then it is waited for).
    later = NOW + timedelta(hours=1)
    assert rollout.plan_delete_others(META, spec, world.status, dict.fromkeys(targets), later, S) is None
    in_flight = {
        **world.status,
        "operations": [{"type": "CreatePool", "resourceId": GREEN, "startedAt": "2026-01-02T03:04:00Z"}],
    }
    waiting = rollout.plan_delete_others(META, spec, in_flight, dict.fromkeys(targets), NOW, S)
    assert waiting is not None
    assert isinstance(waiting.action, Wait)


# ---------------------------------------------------------------------------- properties


@settings(max_examples=60, deadline=None)
@given(
    nodes=st.integers(min_value=1, max_value=12),
    rate=st.integers(min_value=1, max_value=5),
    change_at=st.one_of(st.none(), st.integers(min_value=0, max_value=12)),
    back_to_old=st.booleans(),
    failure=st.sampled_from([None, "quota", "image"]),
)
def test_blue_green_invariants(
    nodes: int, rate: int, change_at: int | None, back_to_old: bool, failure: str | None
) -> None:
    """Never three pools; the serving pool is at target until the new one is Ready at target; a
    failure deletes only the new pool; a mid-rollout change ends on the newest spec."""
    world = ready_world(version("1"), nodes)
    world.batch.rate = rate
    if failure == "quota":
        world.batch.cap = max(0, nodes - 1)
    elif failure == "image":
        world.batch.images_gone.add(version("2"))
    world.gen = 2
    spec = make_spec(version("2"), nodes)
    final = spec
    failed = False
    for i in range(300):
        if change_at is not None and i == change_at:
            world.gen = 3
            final = make_spec(version("1") if back_to_old else version("3"), nodes)
            spec = final
            world.batch.cap = None
            world.batch.images_gone.clear()
        world.step(spec)
        assert world.batch.max_pools <= 2
        serving = world.serving()
        ro = world.status.get("rollout") or {}
        assert serving is not None
        assert serving["properties"]["currentDedicatedNodes"] >= nodes, (i, world.status)
        if ro.get("phase") == "Failed":
            failed = True
            assert BLUE not in world.batch.deleted, "a failure deletes only the new pool"
            if world.batch.get(GREEN) is None and world.gen == 2:
                break
        if (
            not ro
            and world.cond("Reconciling")["status"] == "False"
            and world.cond("Ready")["status"] == "True"
        ):
            break
    if failed and world.gen == 2:
        assert world.cond("Stalled")["reason"] == "RolloutFailed"
        assert image_of(world.batch.get(BLUE)) == version("1")
        assert world.batch.get(GREEN) is None
        return
    assert not world.status.get("rollout"), world.status
    assert final.image.id is not None
    assert image_of(world.serving()) == final.image.id
    assert len(world.batch.pools) == 1


def test_both_pools_count_against_the_image_limit_while_both_exist() -> None:
    from azbatch_operator.reconcile import admission

    key = version("1").lower()
    status = {"rollout": {"phase": "Creating", "strategy": "BlueGreen", "oldTargets": [600, 0]}}
    me = admission.Claim("team-a/render", key, (600, 0), (600, 0))
    me2, extra = rollout.limit_claims(me, status, key)
    assert me2.held is None
    verdict = admission.admit(me2, extra, 1000, 1000)
    assert not verdict.fits, "600 + 600 nodes on one image exceed 1000"
    assert admission.admit(me, (), 1000, 1000).fits
    assert rollout.limit_claims(me, {}, key) == (me, ())


def test_the_old_image_stays_in_use_during_a_rollout() -> None:
    from azbatch_operator.handlers import indexes

    spec = {"image": {"id": version("2")}}
    during = asyncio.run(
        indexes.pools_by_image_id(
            namespace="ns", name="p", spec=spec, status={"rollout": {"fromImage": version("1")}}
        )
    )
    assert set(during) == {version("1").lower(), version("2").lower()}
    after = asyncio.run(indexes.pools_by_image_id(namespace="ns", name="p", spec={"image": {}}, status={}))
    assert after == {}, "an empty mapping (not None) makes kopf drop the old entries"
