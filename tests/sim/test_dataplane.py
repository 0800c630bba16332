"""The Batch data plane through azure-batch (.aio): node counts, node lists, resize, removeNodes, RBAC."""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
from datetime import timedelta
from typing import Any

import pytest

from azbatch_operator.azure.calls import AzureCallError
from azbatch_operator.azure.dataplane import DataPlane
from azbatch_operator.reconcile.errors import Category
from azuresim.testing import SimulatorThread
from tests.sim.conftest import ACCOUNT, ACCOUNT_ID, BATCH_RG, READER, credential, world
from tests.sim.test_batch import pool_body

pytestmark = pytest.mark.sim
POOL_ID = f"{ACCOUNT_ID}/pools/p1"


@pytest.fixture
def sim_world() -> dict[str, Any]:
    return world(
        batch={"nodesPerMinute": 6000, "maxNodesPerResize": 400, "identicalScalePatchStartsResize": False}
    )


def admin(sim: SimulatorThread, method: str, path: str, body: Any = None) -> Any:
    req = urllib.request.Request(
        sim.url + path,
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    ctx = ssl.create_default_context(cafile=sim.ca_file)
    with urllib.request.urlopen(req, context=ctx) as resp:
        raw = resp.read()
        return json.loads(raw) if raw else None


async def _pool(batch: Any, ded: int) -> dict[str, Any]:
    await batch.pool.create(BATCH_RG, ACCOUNT, "p1", pool_body(ded=ded))
    account = await batch.batch_account.get(BATCH_RG, ACCOUNT)
    return {"endpoint": account.account_endpoint}


async def _steady(sim: SimulatorThread, batch: Any) -> Any:
    """Advance the simulated clock past any resize (or its timeout), then read the pool."""
    admin(sim, "POST", "/_sim/clock", {"advanceSeconds": 3600})
    pool = await batch.pool.get(BATCH_RG, ACCOUNT, "p1")
    assert pool.allocation_state == "Steady"
    return pool


async def test_account_endpoint_reaches_the_data_plane_with_only_the_endpoint(
    sim: SimulatorThread, batch: Any, cred: Any
) -> None:
    info = await _pool(batch, 5)
    assert "://" not in info["endpoint"], "ARM reports the endpoint as a host name, without scheme"
    await _steady(sim, batch)
    dp = DataPlane(cred, "AzureCloud", connection_verify=sim.ca_file)
    try:
        counts = await dp.pool_node_counts(info["endpoint"])
        assert counts["p1"]["dedicated"]["idle"] == 5
        assert counts["p1"]["dedicated"]["total"] == 5
        assert counts["p1"]["lowPriority"]["total"] == 0
    finally:
        await dp.close()


async def test_node_states_errors_and_filter(sim: SimulatorThread, batch: Any, cred: Any) -> None:
    info = await _pool(batch, 10)
    await _steady(sim, batch)
    admin(
        sim,
        "POST",
        "/_sim/nodes",
        {"poolId": POOL_ID, "state": "startTaskFailed", "count": 3, "exitCode": 42},
    )
    admin(
        sim,
        "POST",
        "/_sim/nodes",
        {"poolId": POOL_ID, "state": "unusable", "count": 2, "code": "DiskFull", "message": "disk is full"},
    )
    dp = DataPlane(cred, "AzureCloud", connection_verify=sim.ca_file)
    try:
        counts = (await dp.pool_node_counts(info["endpoint"]))["p1"]["dedicated"]
        assert (counts["startTaskFailed"], counts["unusable"], counts["idle"], counts["total"]) == (
            3,
            2,
            5,
            10,
        )
        failed = await dp.list_nodes(info["endpoint"], "p1", ("startTaskFailed",), 100)
        assert len(failed) == 3
        assert {n["state"] for n in failed} == {"starttaskfailed"}
        assert failed[0]["startTaskInfo"]["exitCode"] == 42
        assert failed[0]["startTaskInfo"]["failureInfo"]["code"]
        both = await dp.list_nodes(info["endpoint"], "p1", ("startTaskFailed", "unusable"), 100)
        assert len(both) == 5
        unusable = [n for n in both if n["state"] == "unusable"]
        assert unusable[0]["errors"][0] == {"code": "DiskFull", "message": "disk is full", "errorDetails": []}
        assert len(await dp.list_nodes(info["endpoint"], "p1", ("unusable",), 1)) == 1
    finally:
        await dp.close()


async def test_resize_starts_even_when_the_targets_are_unchanged(
    sim: SimulatorThread, batch: Any, cred: Any
) -> None:
    """World flag false: a PATCH with the same scaleSettings starts nothing, Pool_Resize does."""
    info = await _pool(batch, 1000)
    pool = await _steady(sim, batch)
    assert pool.current_dedicated_nodes == 400, "maxNodesPerResize caps the first resize"
    body = pool_body(ded=1000)["properties"]["scaleSettings"]
    await batch.pool.update(BATCH_RG, ACCOUNT, "p1", {"properties": {"scaleSettings": body}})
    pool = await batch.pool.get(BATCH_RG, ACCOUNT, "p1")
    assert pool.allocation_state == "Steady"
    assert pool.current_dedicated_nodes == 400
    dp = DataPlane(cred, "AzureCloud", connection_verify=sim.ca_file)
    try:
        await dp.resize(info["endpoint"], "p1", 1000, 0, timedelta(minutes=25), "Requeue")
        pool = await _steady(sim, batch)
        assert pool.current_dedicated_nodes == 800
        assert pool.scale_settings.fixed_scale.resize_timeout == timedelta(minutes=25)
    finally:
        await dp.close()


async def test_remove_nodes_lowers_the_target_and_drops_those_nodes(
    sim: SimulatorThread, batch: Any, cred: Any
) -> None:
    info = await _pool(batch, 6)
    await _steady(sim, batch)
    admin(sim, "POST", "/_sim/nodes", {"poolId": POOL_ID, "state": "unusable", "count": 2})
    dp = DataPlane(cred, "AzureCloud", connection_verify=sim.ca_file)
    try:
        bad = await dp.list_nodes(info["endpoint"], "p1", ("unusable",), 100)
        await dp.remove_nodes(info["endpoint"], "p1", tuple(n["id"] for n in bad), "Requeue")
        pool = await _steady(sim, batch)
        assert pool.scale_settings.fixed_scale.target_dedicated_nodes == 4
        counts = (await dp.pool_node_counts(info["endpoint"]))["p1"]["dedicated"]
        assert (counts["unusable"], counts["total"]) == (0, 4)
    finally:
        await dp.close()


async def test_reader_can_list_but_not_resize_and_network_denial_is_403(
    sim: SimulatorThread, batch: Any
) -> None:
    info = await _pool(batch, 2)
    await _steady(sim, batch)
    reader = credential(sim, READER, "reader-secret")
    dp = DataPlane(reader, "AzureCloud", connection_verify=sim.ca_file)
    try:
        assert (await dp.pool_node_counts(info["endpoint"]))["p1"]["dedicated"]["total"] == 2
        with pytest.raises(AzureCallError) as denied:
            await dp.resize(info["endpoint"], "p1", 3, 0, timedelta(minutes=25), "Requeue")
        assert denied.value.classification.category is Category.FORBIDDEN
        assert denied.value.classification.code == "AuthorizationFailure"
        admin(sim, "PATCH", f"/_sim/resources?id={ACCOUNT_ID}", {"publicNetworkAccess": "Disabled"})
        with pytest.raises(AzureCallError) as blocked:
            await dp.pool_node_counts(info["endpoint"])
        assert blocked.value.classification.category is Category.FORBIDDEN
    finally:
        await dp.close()
        await reader.close()


async def test_arm_refuses_a_batch_token(sim: SimulatorThread) -> None:
    cred = credential(sim)
    try:
        token = await cred.get_token("https://batch.core.windows.net//.default")
        req = urllib.request.Request(
            f"{sim.url}{ACCOUNT_ID}?api-version=2024-07-01",
            headers={"Authorization": f"Bearer {token.token}"},
        )
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(req, context=ssl.create_default_context(cafile=sim.ca_file))  # noqa: ASYNC210
        assert refused.value.code == 401
    finally:
        await cred.close()


async def test_states_asked_for_before_the_nodes_exist_apply_as_they_join(
    sim: SimulatorThread, batch: Any, cred: Any
) -> None:
    info = await _pool(batch, 0)
    answer = admin(sim, "POST", "/_sim/nodes", {"poolId": POOL_ID, "state": "startTaskFailed", "count": 2})
    assert (answer["changed"], answer["pending"]) == (0, 2)
    body = pool_body(ded=5)["properties"]["scaleSettings"]
    await batch.pool.update(BATCH_RG, ACCOUNT, "p1", {"properties": {"scaleSettings": body}})
    await _steady(sim, batch)
    dp = DataPlane(cred, "AzureCloud", connection_verify=sim.ca_file)
    try:
        counts = (await dp.pool_node_counts(info["endpoint"]))["p1"]["dedicated"]
        assert (counts["startTaskFailed"], counts["idle"]) == (2, 3)
    finally:
        await dp.close()


@pytest.mark.parametrize(("most", "pages"), [(1000, 1), (10, 2), (5, 3)])
async def test_node_counts_take_a_page_per_maxresults_pools_and_the_sdk_follows_next_links(
    sim: SimulatorThread, batch: Any, cred: Any, most: int, pages: int
) -> None:
    """The operator asks for 1000 pools per page (2025-06-01); where Batch allows fewer (earlier
    versions documented 10) it follows the next links and still sees every pool."""
    sim.sim.world.config["batch"]["nodeCountsMaxResults"] = most
    for i in range(12):
        await batch.pool.create(BATCH_RG, ACCOUNT, f"q{i:02d}", pool_body(ded=1))
    account = await batch.batch_account.get(BATCH_RG, ACCOUNT)
    await _steady_all(sim)
    admin(sim, "DELETE", "/_sim/requests")
    dp = DataPlane(cred, "AzureCloud", connection_verify=sim.ca_file)
    try:
        counts = await dp.pool_node_counts(account.account_endpoint)
    finally:
        await dp.close()
    assert sorted(counts) == [f"q{i:02d}" for i in range(12)]
    assert {c["dedicated"]["total"] for c in counts.values()} == {1}, counts
    calls = admin(sim, "GET", "/_sim/requests")["byOperation"]
    assert calls["Batch.Account_ListPoolNodeCounts"] == pages


async def test_node_counts_without_maxresults_come_ten_pools_a_page(
    sim: SimulatorThread, batch: Any, cred: Any
) -> None:
    for i in range(12):
        await batch.pool.create(BATCH_RG, ACCOUNT, f"q{i:02d}", pool_body(ded=0))
    account = await batch.batch_account.get(BATCH_RG, ACCOUNT)
    dp = DataPlane(cred, "AzureCloud", connection_verify=sim.ca_file)
    try:
        pages = dp.client(account.account_endpoint).list_pool_node_counts().by_page()
        sizes = [len([item async for item in page]) async for page in pages]
    finally:
        await dp.close()
    assert sizes == [10, 2]


async def _steady_all(sim: SimulatorThread) -> None:
    admin(sim, "POST", "/_sim/clock", {"advanceSeconds": 3600})


@pytest.mark.parametrize("option", ["TaskCompletion", "Requeue"])
async def test_a_drain_waits_for_running_tasks_only_with_task_completion(
    sim: SimulatorThread, batch: Any, option: str
) -> None:
    """ARM PATCH to 0 nodes with nodeDeallocationOption: TaskCompletion keeps the two nodes that run a
    task (10 simulated minutes) until it ends; Requeue empties the pool at once."""
    await _pool(batch, 5)
    await _steady(sim, batch)
    admin(sim, "POST", "/_sim/nodes", {"poolId": POOL_ID, "state": "running", "count": 2, "taskSeconds": 600})
    scale = {
        "fixedScale": {
            "targetDedicatedNodes": 0,
            "targetLowPriorityNodes": 0,
            "nodeDeallocationOption": option,
        }
    }
    await batch.pool.update(BATCH_RG, ACCOUNT, "p1", {"properties": {"scaleSettings": scale}})
    admin(sim, "POST", "/_sim/clock", {"advanceSeconds": 60})
    pool = await batch.pool.get(BATCH_RG, ACCOUNT, "p1")
    if option == "TaskCompletion":
        assert (pool.allocation_state, pool.current_dedicated_nodes) == ("Resizing", 2)
        special = admin(sim, "GET", f"/_sim/nodes?poolId={POOL_ID}")["special"]
        assert [r["state"] for r in special.values()] == ["running", "running"]
        admin(sim, "POST", "/_sim/clock", {"advanceSeconds": 600})
        pool = await batch.pool.get(BATCH_RG, ACCOUNT, "p1")
    assert (pool.allocation_state, pool.current_dedicated_nodes) == ("Steady", 0)
