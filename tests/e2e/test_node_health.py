"""Node health from the Batch data plane, end to end: counts in status, unhealthy nodes, recovery, 403.

Nodes are put into states with the simulator's ``POST /_sim/nodes``; the operator reads them through
azure-batch (``Account_ListPoolNodeCounts``, ``ComputeNode_List`` with ``$filter``) with the same
identity as ARM.  Tests poll at most every 0.2 s for a condition, with generous deadlines.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from azbatch_operator.devtools.stack import Operator
from tests.e2e.conftest import SimulatorHandle, World, patch_fixed_scale, wait_condition, wait_for
from tests.e2e.test_batch_pool_resize import arm_requests, condition, fixed_pool, seed_gallery_version
from tests.kube import Kubectl

RESIZES = ("Pool_Update", "Batch.Pool_Resize")
STATES = (
    "idle",
    "running",
    "starting",
    "waitingForStartTask",
    "startTaskFailed",
    "unusable",
    "preempted",
    "leavingPool",
    "rebooting",
    "reimaging",
    "offline",
    "creating",
    "unknown",
    "total",
)


def until(what: str, check: Callable[[], Any], timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def resizes(simulator: SimulatorHandle, world: World) -> int:
    counts = arm_requests(simulator.admin, world)
    return sum(counts[op] for op in RESIZES)


def quiet_period(kubectl: Kubectl, ns: str, seconds: int) -> None:
    """Let the operator run several passes (1 s polling) without a condition to await."""
    kubectl.run(
        "wait",
        "bp/pool",
        "-n",
        ns,
        "--for=jsonpath=.status.allocationState=Never",
        f"--timeout={seconds}s",
        check=False,
    )


def test_node_counts_in_status_match_the_simulator(
    kubectl: Kubectl, operator: Operator, simulator: SimulatorHandle, world: World
) -> None:
    admin, ns = simulator.admin, world.namespace
    version = seed_gallery_version(admin, world)
    kubectl.apply(fixed_pool(world, version, dedicated=12))
    wait_condition(kubectl, "batchpool", ns, "pool", "Ready", "Succeeded", timeout=60)
    pool_id = world.pool_id("pool")
    # Tasks outlast the test (a simulated day): at the default 600 s they end before a slow poll.
    admin.set_nodes(pool_id, "running", 4, taskSeconds=86400)
    admin.set_nodes(pool_id, "rebooting", 2)
    sim = admin.nodes(pool_id)["nodeCounts"]
    # status.nodeCounts carries DESIGN.md's states; Batch also counts a few the API leaves out.
    expected = {kind: {k: sim[kind][k] for k in STATES} for kind in ("dedicated", "lowPriority")}

    seen: list[Any] = []

    def matches() -> dict[str, Any] | None:
        obj = kubectl.json("get", "bp/pool", "-n", ns)
        seen.append(obj["status"].get("nodeCounts"))
        return obj if seen[-1] == expected else None

    try:
        obj = until(f"status.nodeCounts to match the simulator's {expected}", matches)
    except AssertionError as exc:
        raise AssertionError(f"{exc}; last seen {seen[-1]}") from None
    assert obj["status"]["nodeCounts"]["dedicated"]["running"] == 4
    assert obj["status"]["usableNodes"] == "10/12"
    assert condition(obj, "Ready")["status"] == "True", "rebooting nodes are no health problem"
    table = kubectl.run("get", "bp", "pool", "-n", ns).stdout.splitlines()
    assert table[0].split()[8] == "USABLE", table
    assert table[1].split()[7] == "10/12", table


def test_start_task_failure_stops_the_loop_and_names_the_exit_code(
    kubectl: Kubectl, operator: Operator, simulator: SimulatorHandle, world: World
) -> None:
    admin, ns = simulator.admin, world.namespace
    version = seed_gallery_version(admin, world)
    admin.reset_requests()
    kubectl.apply(fixed_pool(world, version, dedicated=1000, timeout="PT5M"))
    pool_id = world.pool_id("pool")

    def some_nodes() -> bool:
        pool = admin.resource(pool_id)
        return pool is not None and int(pool["properties"]["currentDedicatedNodes"]) >= 10

    until("the first nodes", some_nodes)
    admin.set_nodes(pool_id, "startTaskFailed", 3, exitCode=42, code="FailureExitCode", message="exit 42")
    sent_before = resizes(simulator, world)
    obj = wait_condition(kubectl, "batchpool", ns, "pool", "Stalled", "StartTaskFailed", timeout=60)
    message = condition(obj, "Stalled")["message"]
    for part in ("3 of", "start task exit code 42", "FailureExitCode", "spec.startTask"):
        assert part in message, message
    assert condition(obj, "Ready")["status"] == "False"
    assert obj["status"]["nodeHealth"]["reason"] == "StartTaskFailed"
    assert obj["status"]["nodeCounts"]["dedicated"]["startTaskFailed"] == 3

    quiet_period(kubectl, ns, 12)
    assert resizes(simulator, world) == sent_before, "no resize may add nodes that fail the same way"
    pool = admin.resource(pool_id)
    assert pool is not None
    assert int(pool["properties"]["currentDedicatedNodes"]) < 1000
    obj = kubectl.json("get", "bp/pool", "-n", ns)
    assert condition(obj, "Stalled")["reason"] == "StartTaskFailed"


def test_unusable_nodes_block_growth_until_they_recover(
    kubectl: Kubectl, operator: Operator, simulator: SimulatorHandle, world: World
) -> None:
    admin, ns = simulator.admin, world.namespace
    version = seed_gallery_version(admin, world)
    kubectl.apply(fixed_pool(world, version, dedicated=20))
    wait_condition(kubectl, "batchpool", ns, "pool", "Ready", "Succeeded", timeout=60)
    pool_id = world.pool_id("pool")
    admin.reset_requests()
    admin.set_nodes(
        pool_id, "unusable", 5, code="NetworkConfigurationError", message="agent cannot reach Batch"
    )
    obj = wait_condition(kubectl, "batchpool", ns, "pool", "Stalled", "NodesUnusable", timeout=60)
    message = condition(obj, "Stalled")["message"]
    for part in ("5 of 20 nodes are unusable", "NetworkConfigurationError", "agent cannot reach Batch"):
        assert part in message, message

    patch_fixed_scale(kubectl, ns, "pool", targetDedicatedNodes=30)
    quiet_period(kubectl, ns, 8)
    assert resizes(simulator, world) == 0, arm_requests(admin, world)

    admin.set_nodes(pool_id, "idle", 5)
    obj = wait_condition(kubectl, "batchpool", ns, "pool", "Ready", "Succeeded", timeout=60)
    assert obj["status"]["currentDedicatedNodes"] == 30
    assert obj["status"].get("nodeHealth") is None


def test_recovery_removes_unusable_nodes_and_batch_replaces_them(
    kubectl: Kubectl, operator: Operator, simulator: SimulatorHandle, world: World
) -> None:
    admin, ns = simulator.admin, world.namespace
    version = seed_gallery_version(admin, world)
    kubectl.apply(fixed_pool(world, version, dedicated=10, nodeRecovery={"removeUnusableAfter": "PT3S"}))
    wait_condition(kubectl, "batchpool", ns, "pool", "Ready", "Succeeded", timeout=60)
    pool_id = world.pool_id("pool")
    admin.reset_requests()
    bad = set(admin.set_nodes(pool_id, "unusable", 3, code="DiskFull")["nodeIds"])
    obj = wait_condition(kubectl, "batchpool", ns, "pool", "Reconciling", "NodesUnusable", timeout=60)
    assert "spec.nodeRecovery" in condition(obj, "Reconciling")["message"]

    def replaced() -> dict[str, Any] | None:
        obj = kubectl.json("get", "bp/pool", "-n", ns)
        ready = condition(obj, "Ready")
        counts = (obj["status"].get("nodeCounts") or {}).get("dedicated") or {}
        done = ready["status"] == "True" and counts.get("idle") == 10
        return obj if done else None

    obj = until("the unusable nodes to be replaced", replaced, timeout=90)
    assert obj["status"]["currentDedicatedNodes"] == 10
    assert not bad & set(admin.nodes(pool_id)["special"]), "the removed nodes are gone"
    writes = Counter(
        {k: v for k, v in arm_requests(admin, world).items() if k in (*RESIZES, "Batch.Pool_RemoveNodes")}
    )
    assert writes["Batch.Pool_RemoveNodes"] == 1, writes
    assert writes["Pool_Update"] >= 1, writes  # back to the target after Batch lowered it by 3


def test_data_plane_403_leaves_the_pool_ready_with_a_warning(
    kubectl: Kubectl, operator: Operator, simulator: SimulatorHandle, world: World
) -> None:
    """The account endpoint refuses the operator (network closed): ARM reconciling goes on."""
    admin, ns = simulator.admin, world.namespace
    version = seed_gallery_version(admin, world)
    kubectl.apply(fixed_pool(world, version, dedicated=5))
    wait_for(kubectl, "batchpool", ns, "pool", ".status.usableNodes", "5/5", timeout=60)

    admin.patch_resource(world.account_id, {"publicNetworkAccess": "Disabled"})

    def warned() -> dict[str, Any] | None:
        obj = kubectl.json("get", "bp/pool", "-n", ns)
        return obj if "Azure Batch Data Contributor" in condition(obj, "Ready")["message"] else None

    obj = until("the Ready message to name the missing role", warned)
    ready = condition(obj, "Ready")
    assert (ready["status"], ready["reason"]) == ("True", "Succeeded")
    assert "node health is unavailable" in ready["message"], ready["message"]
    assert "nodeCounts" not in obj["status"], "counts from before the refusal are not shown as current"

    # Management-plane features keep working: a new target is reached through ARM.
    patch_fixed_scale(kubectl, ns, "pool", targetDedicatedNodes=8)
    obj = wait_for(kubectl, "batchpool", ns, "pool", ".status.currentDedicatedNodes", "8", timeout=60)
    obj = wait_condition(kubectl, "batchpool", ns, "pool", "Ready", "Succeeded", timeout=60)
    assert "node health is unavailable" in condition(obj, "Ready")["message"]

    admin.patch_resource(world.account_id, {"publicNetworkAccess": "Enabled"})
    wait_for(kubectl, "batchpool", ns, "pool", ".status.usableNodes", "8/8", timeout=60)
