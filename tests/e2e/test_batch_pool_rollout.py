"""Rolling a pool to an empty-pool change end to end (spec.updateStrategy, issue 13).

Pools use ``spec.image.id`` on gallery image versions seeded into the simulator (no ManagedImage
build), a few nodes each; the simulator's clock runs 60x, so a drain waiting for 2 simulated minutes
of tasks takes 2 real seconds.  Every rollout is sampled from the simulator at each poll.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest

from azbatch_operator.devtools.stack import Operator
from tests.e2e.conftest import SimulatorHandle, World, wait_condition
from tests.e2e.test_batch_pool_resize import arm_requests, fixed_pool, seed_gallery_version
from tests.kube import Kubectl

POOL_TYPE = "Microsoft.Batch/batchAccounts/pools"


def _patch_spec(kubectl: Kubectl, ns: str, name: str, spec: dict[str, Any]) -> None:
    kubectl.run("patch", "batchpool", name, "-n", ns, "--type=merge", "-p", json.dumps({"spec": spec}))


def _pools(simulator: SimulatorHandle, world: World) -> list[dict[str, Any]]:
    prefix = f"{world.account_id}/pools/".lower()
    return [p for p in simulator.admin.resources(POOL_TYPE) if str(p["id"]).lower().startswith(prefix)]


def _get(kubectl: Kubectl, ns: str, name: str) -> dict[str, Any]:
    return kubectl.json("get", "batchpool", name, "-n", ns)  # type: ignore[no-any-return]


def _cond(obj: dict[str, Any], type_: str) -> dict[str, Any]:
    return next(c for c in obj["status"].get("conditions") or [] if c["type"] == type_)


def _sample_until(
    kubectl: Kubectl,
    simulator: SimulatorHandle,
    world: World,
    ns: str,
    done: Callable[[dict[str, Any]], bool],
    check: Callable[[dict[str, Any], list[dict[str, Any]]], None],
    timeout: float = 120.0,
) -> tuple[dict[str, Any], int]:
    """Poll the object and the account's pools until ``done``; ``check`` sees every sample."""
    deadline = time.monotonic() + timeout
    samples = 0
    while True:
        obj = _get(kubectl, ns, "pool")
        pools = _pools(simulator, world)
        check(obj, pools)
        samples += 1
        if done(obj):
            return obj, samples
        if time.monotonic() > deadline:
            raise AssertionError(f"rollout never ended: {json.dumps(obj.get('status'), indent=1)}")
        time.sleep(0.2)  # a sampling interval (each sample is checked), not a wait for a condition


def _image(pool: dict[str, Any]) -> str:
    return str(
        pool["properties"]["deploymentConfiguration"]["virtualMachineConfiguration"]["imageReference"]["id"]
    )


def test_blue_green_rolls_to_v2_and_back_without_dropping_below_target(
    kubectl: Kubectl, operator: Operator, simulator: SimulatorHandle, world: World
) -> None:
    admin, ns = simulator.admin, world.namespace
    v1 = seed_gallery_version(admin, world, "1.0.0")
    v2 = seed_gallery_version(admin, world, "2.0.0")
    target = 3
    kubectl.apply(
        fixed_pool(
            world, v1, dedicated=target, updateStrategy={"type": "BlueGreen", "drain": "TaskCompletion"}
        )
    )
    wait_condition(kubectl, "batchpool", ns, "pool", "Ready", "Succeeded", timeout=60)
    blue, green = world.pool_id("pool"), world.pool_id("pool-b")
    # Two nodes of the old pool run a task for 2 simulated minutes: the drain waits for them.
    admin.set_nodes(blue, "running", 2, taskSeconds=120)
    admin.reset_requests()
    started = time.monotonic()
    _patch_spec(kubectl, ns, "pool", {"image": {"id": v2}})
    seen_phases: set[str] = set()

    def check(obj: dict[str, Any], pools: list[dict[str, Any]]) -> None:
        status = obj.get("status") or {}
        assert len(pools) <= 2, [p["id"] for p in pools]
        serving = next(p for p in pools if p["id"].lower() == str(status["poolId"]).lower())
        assert serving["properties"]["currentDedicatedNodes"] >= target, (status, serving["properties"])
        assert _cond(obj, "Ready")["status"] == "True", _cond(obj, "Ready")
        if status.get("rollout"):
            seen_phases.add(status["rollout"]["phase"])
            assert status["rollout"]["fromImage"] == v1
            assert status["rollout"]["toImage"] == v2
            assert _cond(obj, "Reconciling")["reason"] == "RollingOut"

    def finished(obj: dict[str, Any]) -> bool:
        status = obj.get("status") or {}
        return (
            not status.get("rollout")
            and str(status.get("poolId", "")).lower() == green.lower()
            and admin.resource(blue) is None
        )

    obj, samples = _sample_until(kubectl, simulator, world, ns, finished, check)
    elapsed = time.monotonic() - started
    calls = arm_requests(admin, world)
    print(f"BlueGreen rollout of {target} nodes: {elapsed:.1f}s, {samples} samples, ARM {dict(calls)}")
    assert {"Creating", "Draining"} <= seen_phases, seen_phases
    new = admin.resource(green)
    assert new is not None
    assert _image(new) == v2
    assert obj["status"]["imageReference"] == v2
    assert (calls["Pool_Create"], calls["Pool_Delete"]) == (1, 1), calls
    wait_condition(kubectl, "batchpool", ns, "pool", "Ready", "Succeeded", timeout=60)

    # The next rollout alternates back to <poolName>.
    _patch_spec(kubectl, ns, "pool", {"image": {"id": v1}})

    def back(obj: dict[str, Any]) -> bool:
        status = obj.get("status") or {}
        return not status.get("rollout") and str(status.get("poolId", "")).lower() == blue.lower()

    obj, _ = _sample_until(kubectl, simulator, world, ns, back, lambda o, p: None)
    assert admin.resource(green) is None
    kubectl.run("delete", "bp", "pool", "-n", ns, "--timeout=60s")
    assert _pools(simulator, world) == []


def test_scale_to_zero_keeps_the_pool_id(
    kubectl: Kubectl, operator: Operator, simulator: SimulatorHandle, world: World
) -> None:
    admin, ns = simulator.admin, world.namespace
    v1 = seed_gallery_version(admin, world, "1.0.0")
    kubectl.apply(
        fixed_pool(world, v1, dedicated=2, updateStrategy={"type": "ScaleToZero", "drain": "Requeue"})
    )
    wait_condition(kubectl, "batchpool", ns, "pool", "Ready", "Succeeded", timeout=60)
    admin.reset_requests()
    _patch_spec(kubectl, ns, "pool", {"vmSize": "Standard_D4s_v5"})
    phases: set[str] = set()

    def check(obj: dict[str, Any], pools: list[dict[str, Any]]) -> None:
        assert [p["id"].lower() for p in pools] == [world.pool_id("pool").lower()]
        rollout = (obj.get("status") or {}).get("rollout")
        if rollout:
            phases.add(rollout["phase"])

    def done(obj: dict[str, Any]) -> bool:
        pool = admin.resource(world.pool_id("pool")) or {}
        props = pool.get("properties") or {}
        return (
            not obj["status"].get("rollout")
            and props.get("vmSize", "").lower() == "standard_d4s_v5"
            and props.get("currentDedicatedNodes") == 2
        )

    _sample_until(kubectl, simulator, world, ns, done, check)
    assert "Draining" in phases, phases
    obj = wait_condition(kubectl, "batchpool", ns, "pool", "Ready", "Succeeded", timeout=60)
    assert obj["status"]["poolId"].lower() == world.pool_id("pool").lower()
    calls = arm_requests(admin, world)
    assert (calls["Pool_Create"], calls["Pool_Delete"]) == (0, 0), calls


def test_manual_is_stalled_and_says_how_to_opt_in(
    kubectl: Kubectl, operator: Operator, simulator: SimulatorHandle, world: World
) -> None:
    admin, ns = simulator.admin, world.namespace
    v1 = seed_gallery_version(admin, world, "1.0.0")
    v2 = seed_gallery_version(admin, world, "2.0.0")
    kubectl.apply(fixed_pool(world, v1, dedicated=2))
    wait_condition(kubectl, "batchpool", ns, "pool", "Ready", "Succeeded", timeout=60)
    _patch_spec(kubectl, ns, "pool", {"image": {"id": v2}})
    obj = wait_condition(kubectl, "batchpool", ns, "pool", "Stalled", "UpdateRequiresEmptyPool", timeout=60)
    message = _cond(obj, "Stalled")["message"]
    assert all(word in message for word in ("image", "BlueGreen", "ScaleToZero")), message
    assert len(_pools(simulator, world)) == 1


def test_new_image_gone_fails_the_rollout_and_the_old_spec_ends_it(
    kubectl: Kubectl, operator: Operator, simulator: SimulatorHandle, world: World
) -> None:
    admin, ns = simulator.admin, world.namespace
    v1 = seed_gallery_version(admin, world, "1.0.0")
    v2 = seed_gallery_version(admin, world, "2.0.0")
    kubectl.apply(fixed_pool(world, v1, dedicated=2, updateStrategy={"type": "BlueGreen"}))
    wait_condition(kubectl, "batchpool", ns, "pool", "Ready", "Succeeded", timeout=60)
    admin.delete_resource(v2)  # out of band
    _patch_spec(kubectl, ns, "pool", {"image": {"id": v2}})
    obj = wait_condition(kubectl, "batchpool", ns, "pool", "Stalled", "RolloutFailed", timeout=60)
    assert "ImageNotFound" in _cond(obj, "Stalled")["message"]
    assert obj["status"]["rollout"]["phase"] == "Failed"
    pools = _pools(simulator, world)
    assert [p["id"].lower() for p in pools] == [world.pool_id("pool").lower()]
    assert _image(pools[0]) == v1
    assert pools[0]["properties"]["currentDedicatedNodes"] == 2
    _patch_spec(kubectl, ns, "pool", {"image": {"id": v1}})
    obj = wait_condition(kubectl, "batchpool", ns, "pool", "Ready", "Succeeded", timeout=60)
    assert not obj["status"].get("rollout")


def test_quota_fails_the_rollout_and_deletes_only_the_new_pool(
    kubectl: Kubectl, operator: Operator, simulator: SimulatorHandle, namespace: str
) -> None:
    from tests.e2e.conftest import seed_world

    admin = simulator.admin
    # 2 cores a node: the old pool's 3 nodes fit in 8 cores, a second pool of 3 does not.
    world = seed_world(admin, namespace, account={"dedicatedCoreQuota": 8})
    v1 = seed_gallery_version(admin, world, "1.0.0")
    v2 = seed_gallery_version(admin, world, "2.0.0")
    kubectl.apply(fixed_pool(world, v1, dedicated=3, updateStrategy={"type": "BlueGreen"}))
    wait_condition(kubectl, "batchpool", namespace, "pool", "Ready", "Succeeded", timeout=60)
    _patch_spec(kubectl, namespace, "pool", {"image": {"id": v2}})
    obj = wait_condition(kubectl, "batchpool", namespace, "pool", "Stalled", "RolloutFailed", timeout=90)
    assert "QuotaExceeded" in _cond(obj, "Stalled")["message"], _cond(obj, "Stalled")

    def gone(o: dict[str, Any]) -> bool:
        return admin.resource(world.pool_id("pool-b")) is None

    _sample_until(kubectl, simulator, world, namespace, gone, lambda o, p: None, timeout=60)
    old = admin.resource(world.pool_id("pool"))
    assert old is not None
    assert _image(old) == v1
    assert old["properties"]["currentDedicatedNodes"] == 3


def test_delete_during_rollout_removes_both_pools(
    kubectl: Kubectl, operator: Operator, simulator: SimulatorHandle, world: World
) -> None:
    admin, ns = simulator.admin, world.namespace
    v1 = seed_gallery_version(admin, world, "1.0.0")
    v2 = seed_gallery_version(admin, world, "2.0.0")
    kubectl.apply(fixed_pool(world, v1, dedicated=2, updateStrategy={"type": "BlueGreen"}))
    wait_condition(kubectl, "batchpool", ns, "pool", "Ready", "Succeeded", timeout=60)
    admin.set_nodes(world.pool_id("pool"), "running", 2, taskSeconds=3600)  # the drain would wait an hour
    _patch_spec(kubectl, ns, "pool", {"image": {"id": v2}})

    def draining(o: dict[str, Any]) -> bool:
        return ((o.get("status") or {}).get("rollout") or {}).get("phase") == "Draining"

    _sample_until(kubectl, simulator, world, ns, draining, lambda o, p: None, timeout=60)
    kubectl.run("delete", "bp", "pool", "-n", ns, "--timeout=90s")
    assert _pools(simulator, world) == []


def test_managed_image_v1_deletes_cleanly_after_the_rollout(
    kubectl: Kubectl, operator: Operator, simulator: SimulatorHandle, world: World
) -> None:
    from tests.e2e.test_smoke_flow import image_manifest

    ns = world.namespace
    v1, v2 = image_manifest(world, "render-node-v1"), image_manifest(world, "render-node-v2")
    kubectl.apply(v1)
    kubectl.apply(v2)
    for name in ("render-node-v1", "render-node-v2"):
        wait_condition(kubectl, "managedimage", ns, name, "Ready", timeout=120)
    manifest = fixed_pool(world, "", dedicated=2, updateStrategy={"type": "BlueGreen"})
    manifest["spec"]["image"] = {"managedImageRef": {"name": "render-node-v1"}}
    kubectl.apply(manifest)
    wait_condition(kubectl, "batchpool", ns, "pool", "Ready", "Succeeded", timeout=60)
    # The old pool's tasks run for 10 simulated minutes: its drain (TaskCompletion) waits for them.
    simulator.admin.set_nodes(world.pool_id("pool"), "running", 2, taskSeconds=600)
    _patch_spec(kubectl, ns, "pool", {"image": {"managedImageRef": {"name": "render-node-v2"}}})

    def rolling(o: dict[str, Any]) -> bool:
        return bool((o.get("status") or {}).get("rollout"))

    _sample_until(kubectl, simulator, world, ns, rolling, lambda o, p: None, timeout=60)
    # v1 is deleted while the old pool still runs on it: the deletion waits for the rollout.
    kubectl.run("delete", "managedimage", "render-node-v1", "-n", ns, "--wait=false")
    held = wait_condition(kubectl, "managedimage", ns, "render-node-v1", "Stalled", "ImageInUse", timeout=60)
    assert "pool" in _cond(held, "Stalled")["message"]
    assert simulator.admin.resource(world.pool_id("pool")) is not None

    def finished(o: dict[str, Any]) -> bool:
        gone = simulator.admin.resource(world.pool_id("pool")) is None
        return not (o.get("status") or {}).get("rollout") and gone

    _sample_until(kubectl, simulator, world, ns, finished, lambda o, p: None, timeout=120)
    kubectl.run("wait", "managedimage/render-node-v1", "-n", ns, "--for=delete", "--timeout=90s", timeout=120)
    pool = simulator.admin.resource(world.pool_id("pool-b"))
    assert pool is not None
    assert pool["properties"]["currentDedicatedNodes"] == 2


@pytest.mark.isolated
def test_sigkill_at_three_points_of_a_rollout_converges_without_duplicates(
    kubectl: Kubectl, own_operator: Operator, simulator: SimulatorHandle, world: World
) -> None:
    admin, ns = simulator.admin, world.namespace
    v1 = seed_gallery_version(admin, world, "1.0.0")
    v2 = seed_gallery_version(admin, world, "2.0.0")
    kubectl.apply(fixed_pool(world, v1, dedicated=3, updateStrategy={"type": "BlueGreen"}))
    wait_condition(kubectl, "batchpool", ns, "pool", "Ready", "Succeeded", timeout=60)
    blue, green = world.pool_id("pool"), world.pool_id("pool-b")
    admin.set_nodes(blue, "running", 3, taskSeconds=240)  # the drain lasts 4 simulated minutes
    admin.reset_requests()
    _patch_spec(kubectl, ns, "pool", {"image": {"id": v2}})

    def at_most_two(o: dict[str, Any], pools: list[dict[str, Any]]) -> None:
        assert len(pools) <= 2, [p["id"] for p in pools]

    points: list[Callable[[dict[str, Any]], bool]] = [
        lambda o: bool((o.get("status") or {}).get("rollout")),  # recorded
        lambda o: admin.resource(green) is not None,  # the new pool exists
        lambda o: ((o.get("status") or {}).get("rollout") or {}).get("phase") == "Draining",  # switched
    ]
    for point in points:
        _sample_until(kubectl, simulator, world, ns, point, at_most_two, timeout=60)
        own_operator.kill()
        own_operator.start()

    def finished(o: dict[str, Any]) -> bool:
        status = o.get("status") or {}
        return not status.get("rollout") and str(status.get("poolId", "")).lower() == green.lower()

    _sample_until(kubectl, simulator, world, ns, finished, at_most_two, timeout=120)
    wait_condition(kubectl, "batchpool", ns, "pool", "Ready", "Succeeded", timeout=60)
    assert [p["id"].lower() for p in _pools(simulator, world)] == [green.lower()]
    calls = arm_requests(admin, world)
    assert calls["Pool_Create"] == 1, calls


@pytest.mark.campaign
def test_rollout_of_a_500_node_pool_figures(
    kubectl: Kubectl, operator: Operator, simulator: SimulatorHandle, world: World
) -> None:
    """The note's figures: time and Azure requests of one BlueGreen rollout of 500 nodes (the new
    pool needs two resizes: the simulator adds at most 400 nodes per resize, as Batch does)."""
    admin, ns = simulator.admin, world.namespace
    v1 = seed_gallery_version(admin, world, "1.0.0")
    v2 = seed_gallery_version(admin, world, "2.0.0")
    target = 500
    kubectl.apply(fixed_pool(world, v1, dedicated=target, updateStrategy={"type": "BlueGreen"}))
    wait_condition(kubectl, "batchpool", ns, "pool", "Ready", "Succeeded", timeout=180)
    admin.reset_requests()
    sim_start = float(admin.clock()["epoch"])
    started = time.monotonic()
    _patch_spec(kubectl, ns, "pool", {"image": {"id": v2}})
    lowest: list[int] = []

    def check(obj: dict[str, Any], pools: list[dict[str, Any]]) -> None:
        status = obj.get("status") or {}
        assert len(pools) <= 2
        serving = next(p for p in pools if p["id"].lower() == str(status["poolId"]).lower())
        lowest.append(int(serving["properties"]["currentDedicatedNodes"]))

    def finished(obj: dict[str, Any]) -> bool:
        status = obj.get("status") or {}
        return not status.get("rollout") and admin.resource(world.pool_id("pool")) is None

    _sample_until(kubectl, simulator, world, ns, finished, check, timeout=300)
    elapsed, sim_elapsed = time.monotonic() - started, float(admin.clock()["epoch"]) - sim_start
    calls = arm_requests(admin, world)
    arm = sum(n for op, n in calls.items() if not op.startswith("Batch."))
    print(
        f"500-node BlueGreen rollout: {elapsed:.1f} s real, {sim_elapsed / 60:.1f} simulated min; "
        f"{arm} ARM requests, {sum(calls.values()) - arm} data-plane; {dict(calls)}; "
        f"serving pool min {min(lowest)} nodes over {len(lowest)} samples"
    )
    assert min(lowest) >= target


def test_a_change_mid_rollout_rolls_forward_to_the_newest_spec(
    kubectl: Kubectl, operator: Operator, simulator: SimulatorHandle, world: World
) -> None:
    """410 nodes: the simulator adds at most 400 per resize, so the new pool needs a second resize
    (after a 5 simulated minute timeout) and the v3 change lands while it is being created."""
    admin, ns = simulator.admin, world.namespace
    v1, v2, v3 = (seed_gallery_version(admin, world, v) for v in ("1.0.0", "2.0.0", "3.0.0"))
    target = 410
    kubectl.apply(
        fixed_pool(world, v1, dedicated=target, timeout="PT5M", updateStrategy={"type": "BlueGreen"})
    )
    wait_condition(kubectl, "batchpool", ns, "pool", "Ready", "Succeeded", timeout=120)
    admin.reset_requests()
    _patch_spec(kubectl, ns, "pool", {"image": {"id": v2}})
    green = world.pool_id("pool-b")

    def at_most_two(o: dict[str, Any], pools: list[dict[str, Any]]) -> None:
        assert len(pools) <= 2, [p["id"] for p in pools]

    def creating(o: dict[str, Any]) -> bool:
        phase = ((o.get("status") or {}).get("rollout") or {}).get("phase")
        return phase == "Creating" and admin.resource(green) is not None

    _sample_until(kubectl, simulator, world, ns, creating, at_most_two, timeout=60)
    _patch_spec(kubectl, ns, "pool", {"image": {"id": v3}})

    def finished(o: dict[str, Any]) -> bool:
        status = o.get("status") or {}
        pools = _pools(simulator, world)
        return not status.get("rollout") and len(pools) == 1 and _image(pools[0]) == v3

    obj, _ = _sample_until(kubectl, simulator, world, ns, finished, at_most_two, timeout=180)
    assert obj["status"]["imageReference"] == v3
    calls = arm_requests(admin, world)
    assert calls["Pool_Create"] <= 2, calls
    assert calls["Pool_Delete"] >= 1, calls
