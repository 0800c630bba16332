"""Microsoft.Batch pools through azure-mgmt-batch (.aio): allocation model, errors, LROs."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from azure.core import MatchConditions
from azure.core.exceptions import (
    HttpResponseError,
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
)

from azuresim.testing import SimulatorThread
from tests.sim.conftest import (
    ACCOUNT,
    ACCOUNT_ID,
    BATCH_RG,
    POLL,
    SEED_IMAGE,
    SEED_VERSION,
    WORLD,
    batch_client,
    credential,
    world,
)

pytestmark = pytest.mark.sim


def pool_body(
    image: str = SEED_VERSION,
    ded: int = 0,
    low: int = 0,
    timeout: str = "PT25M",
    vm_size: str = "Standard_D4s_v5",
) -> dict[str, Any]:
    return {
        "properties": {
            "vmSize": vm_size,
            "deploymentConfiguration": {
                "virtualMachineConfiguration": {
                    "imageReference": {"id": image},
                    "nodeAgentSkuId": "batch.node.ubuntu 22.04",
                }
            },
            "scaleSettings": {
                "fixedScale": {
                    "targetDedicatedNodes": ded,
                    "targetLowPriorityNodes": low,
                    "resizeTimeout": timeout,
                    "nodeDeallocationOption": "Requeue",
                }
            },
        }
    }


def scale(ded: int, low: int = 0, timeout: str = "PT25M") -> dict[str, Any]:
    return {
        "properties": {
            "scaleSettings": {
                "fixedScale": {
                    "targetDedicatedNodes": ded,
                    "targetLowPriorityNodes": low,
                    "resizeTimeout": timeout,
                }
            }
        }
    }


async def test_account(batch: Any) -> None:
    acct = await batch.batch_account.get(BATCH_RG, ACCOUNT)
    assert acct.location == "westeurope"
    assert acct.pool_allocation_mode == "BatchService"
    assert acct.dedicated_core_quota == 20000
    assert acct.low_priority_core_quota == 5000
    assert acct.pool_quota == 100


async def test_pool_lifecycle(batch: Any, sim: SimulatorThread) -> None:
    created = await batch.pool.create(BATCH_RG, ACCOUNT, "p1", pool_body(ded=10))
    assert created.provisioning_state == "Succeeded"
    assert created.allocation_state == "Resizing"
    assert created.vm_size == "Standard_D4s_v5"
    assert created.deployment_configuration.virtual_machine_configuration.image_reference.id == SEED_VERSION
    assert created.etag
    assert created.creation_time is not None
    sim.clock(advance_seconds=60)
    pool = await batch.pool.get(BATCH_RG, ACCOUNT, "p1")
    assert pool.allocation_state == "Steady"
    assert pool.current_dedicated_nodes == 10
    assert pool.resize_operation_status.target_dedicated_nodes == 10
    assert not pool.resize_operation_status.errors
    names = [p.name async for p in batch.pool.list_by_batch_account(BATCH_RG, ACCOUNT)]
    assert names == ["p1"]
    updated = await batch.pool.update(BATCH_RG, ACCOUNT, "p1", scale(20))
    assert updated.allocation_state == "Resizing"
    assert updated.etag != created.etag
    poller = await batch.pool.begin_delete(BATCH_RG, ACCOUNT, "p1", **POLL)
    deleting = await batch.pool.get(BATCH_RG, ACCOUNT, "p1")
    assert deleting.provisioning_state == "Deleting"
    sim.clock(advance_seconds=600)
    await poller.result()
    with pytest.raises(ResourceNotFoundError):
        await batch.pool.get(BATCH_RG, ACCOUNT, "p1")


async def test_second_put_refused(batch: Any) -> None:
    # On a pool with nodes (or resizing towards some): a PUT replaces every property, and most of
    # them only change on an empty pool (tests/sim/test_pool_properties.py has the empty case).
    await batch.pool.create(BATCH_RG, ACCOUNT, "p2", pool_body(ded=2))
    with pytest.raises(HttpResponseError) as exc:
        await batch.pool.create(BATCH_RG, ACCOUNT, "p2", pool_body(ded=2))
    assert exc.value.status_code == 400
    assert exc.value.error.code == "PropertyCannotBeUpdated"
    assert {d.code: d.message for d in exc.value.error.details}["PropertyName"] == "deploymentConfiguration"
    with pytest.raises(ResourceExistsError) as cond:
        await batch.pool.create(
            BATCH_RG, ACCOUNT, "p2", pool_body(), match_condition=MatchConditions.IfMissing
        )
    assert cond.value.status_code == 412
    with pytest.raises(ResourceModifiedError):
        await batch.pool.update(
            BATCH_RG,
            ACCOUNT,
            "p2",
            scale(1),
            etag='W/"0xstale"',
            match_condition=MatchConditions.IfNotModified,
        )


async def test_managed_image_pool_refused_by_default(batch: Any, sim: SimulatorThread) -> None:
    with pytest.raises(HttpResponseError) as exc:
        await batch.pool.create(BATCH_RG, ACCOUNT, "mi", pool_body(image=SEED_IMAGE))
    assert exc.value.status_code == 400
    assert "Azure Compute Gallery" in exc.value.error.message
    sim.seed({"batch": {"managedImagePoolsRetired": False}})
    pool = await batch.pool.create(BATCH_RG, ACCOUNT, "mi", pool_body(image=SEED_IMAGE, ded=2))
    assert pool.deployment_configuration.virtual_machine_configuration.image_reference.id == SEED_IMAGE


async def test_missing_image_refused(batch: Any) -> None:
    ghost = SEED_VERSION.replace("1.0.0", "9.9.9")
    with pytest.raises(HttpResponseError) as exc:
        await batch.pool.create(BATCH_RG, ACCOUNT, "ghost", pool_body(image=ghost))
    assert exc.value.status_code == 400
    assert "does not exist" in exc.value.error.message


async def test_resize_times_out_with_partial_nodes(batch: Any, sim: SimulatorThread) -> None:
    sim.seed({"batch": {"nodesPerMinute": 10, "maxNodesPerResize": 0}})
    await batch.pool.create(BATCH_RG, ACCOUNT, "slow", pool_body(ded=100, timeout="PT5M"))
    sim.clock(advance_seconds=120)
    mid = await batch.pool.get(BATCH_RG, ACCOUNT, "slow")
    assert mid.allocation_state == "Resizing"
    assert 19 <= mid.current_dedicated_nodes <= 21
    sim.clock(advance_seconds=200)
    done = await batch.pool.get(BATCH_RG, ACCOUNT, "slow")
    assert done.allocation_state == "Steady"
    assert done.current_dedicated_nodes == 50
    assert [e.code for e in done.resize_operation_status.errors] == ["AllocationTimedOut"]


async def test_time_scale_drives_allocation(batch: Any, sim: SimulatorThread) -> None:
    sim.clock(time_scale=600)  # 200 nodes/min -> 20 nodes in 6 simulated s = 10 ms real
    await batch.pool.create(BATCH_RG, ACCOUNT, "fast", pool_body(ded=20))
    import asyncio

    for _ in range(100):
        pool = await batch.pool.get(BATCH_RG, ACCOUNT, "fast")
        if pool.allocation_state == "Steady":
            break
        await asyncio.sleep(0.02)
    assert pool.current_dedicated_nodes == 20


async def test_max_nodes_per_resize_needs_several_resizes(batch: Any, sim: SimulatorThread) -> None:
    await batch.pool.create(BATCH_RG, ACCOUNT, "big", pool_body(ded=1000))
    sim.clock(advance_seconds=180)
    pool = await batch.pool.get(BATCH_RG, ACCOUNT, "big")
    assert pool.allocation_state == "Resizing"
    assert pool.current_dedicated_nodes == 400
    sim.clock(advance_seconds=25 * 60)
    pool = await batch.pool.get(BATCH_RG, ACCOUNT, "big")
    assert pool.allocation_state == "Steady"
    assert pool.current_dedicated_nodes == 400
    assert pool.resize_operation_status.errors[0].code == "AllocationTimedOut"
    for expected in (800, 1000):
        await batch.pool.update(BATCH_RG, ACCOUNT, "big", scale(1000))
        sim.clock(advance_seconds=26 * 60)
        pool = await batch.pool.get(BATCH_RG, ACCOUNT, "big")
        assert pool.current_dedicated_nodes == expected
    assert not pool.resize_operation_status.errors


async def test_core_quota(batch: Any, sim: SimulatorThread) -> None:
    sim.patch_resource(ACCOUNT_ID, {"dedicatedCoreQuota": 40, "lowPriorityCoreQuota": 8})
    await batch.pool.create(BATCH_RG, ACCOUNT, "q", pool_body(ded=20, low=5))
    sim.clock(advance_seconds=600)
    pool = await batch.pool.get(BATCH_RG, ACCOUNT, "q")
    assert pool.allocation_state == "Steady"
    assert pool.current_dedicated_nodes == 10  # 40 cores / 4 per Standard_D4s_v5
    assert pool.current_low_priority_nodes == 2
    assert pool.resize_operation_status.errors[0].code == "AccountCoreQuotaReached"
    sim.patch_resource(ACCOUNT_ID, {"dedicatedCoreQuota": 20000})
    await batch.pool.update(BATCH_RG, ACCOUNT, "q", scale(10, 5))
    sim.clock(advance_seconds=600)
    pool = await batch.pool.get(BATCH_RG, ACCOUNT, "q")
    assert pool.current_low_priority_nodes == 2
    assert pool.resize_operation_status.errors[0].code == "AccountLowPriorityCoreQuotaReached"


async def test_deleted_image_fails_next_resize(batch: Any, sim: SimulatorThread) -> None:
    await batch.pool.create(BATCH_RG, ACCOUNT, "img", pool_body(ded=5))
    sim.clock(advance_seconds=60)
    sim.delete_resource(SEED_VERSION)
    await batch.pool.update(BATCH_RG, ACCOUNT, "img", scale(10))
    sim.clock(advance_seconds=600)
    pool = await batch.pool.get(BATCH_RG, ACCOUNT, "img")
    assert pool.allocation_state == "Steady"
    assert pool.current_dedicated_nodes == 5
    err = pool.resize_operation_status.errors[0]
    assert err.code == "AllocationFailed"
    assert "no longer exists" in err.message


async def test_managed_image_node_limit(batch: Any, sim: SimulatorThread) -> None:
    sim.seed(
        {
            "batch": {
                "managedImagePoolsRetired": False,
                "maxNodesPerResize": 0,
                "managedImageDedicatedNodeLimit": 30,
            }
        }
    )
    await batch.pool.create(
        BATCH_RG, ACCOUNT, "a", pool_body(image=SEED_IMAGE, ded=20, vm_size="Standard_D2s_v5")
    )
    await batch.pool.create(
        BATCH_RG, ACCOUNT, "b", pool_body(image=SEED_IMAGE, ded=20, vm_size="Standard_D2s_v5")
    )
    sim.clock(advance_seconds=600)
    b = await batch.pool.get(BATCH_RG, ACCOUNT, "b")
    assert b.current_dedicated_nodes == 10
    assert b.resize_operation_status.errors[0].code == "ImageNodeLimitReached"


async def test_stop_resize_and_autoscale(batch: Any, sim: SimulatorThread) -> None:
    await batch.pool.create(BATCH_RG, ACCOUNT, "s", pool_body(ded=300))
    sim.clock(advance_seconds=30)
    stopped = await batch.pool.stop_resize(BATCH_RG, ACCOUNT, "s")
    assert stopped.allocation_state == "Stopping"
    sim.clock(advance_seconds=60)
    pool = await batch.pool.get(BATCH_RG, ACCOUNT, "s")
    assert pool.allocation_state == "Steady"
    assert 100 <= pool.current_dedicated_nodes <= 110
    assert pool.resize_operation_status.errors[0].code == "ResizeStopped"
    auto = {
        "properties": {
            "scaleSettings": {
                "autoScale": {"formula": "$TargetDedicatedNodes = 7;", "evaluationInterval": "PT5M"}
            }
        }
    }
    pool = await batch.pool.update(BATCH_RG, ACCOUNT, "s", auto)
    assert pool.auto_scale_run.results.startswith("$TargetDedicatedNodes=7")
    sim.clock(advance_seconds=600)
    pool = await batch.pool.get(BATCH_RG, ACCOUNT, "s")
    assert pool.current_dedicated_nodes == 7
    pool = await batch.pool.disable_auto_scale(BATCH_RG, ACCOUNT, "s")
    assert pool.scale_settings.fixed_scale.target_dedicated_nodes == 7
    assert pool.scale_settings.auto_scale is None


@pytest.fixture
def paged_sim() -> Iterator[SimulatorThread]:
    with SimulatorThread(world(batch={**WORLD["batch"], "pageSize": 2}), time_scale=60) as s:
        yield s


@pytest.fixture
async def paged_batch(paged_sim: SimulatorThread) -> AsyncIterator[Any]:
    async with credential(paged_sim) as c, batch_client(paged_sim, c) as b:
        yield b


async def test_pool_listing_pages_by_next_link_and_honours_select(paged_batch: Any) -> None:
    """Pool_ListByBatchAccount: pages of ``batch.pageSize`` (``maxresults`` caps them further)
    joined by ``nextLink``; ``$select`` keeps only the named properties."""
    batch = paged_batch
    for name in ("a", "b", "c", "d", "e"):
        await batch.pool.create(BATCH_RG, ACCOUNT, name, pool_body())
    pages = [
        [p.name async for p in page]
        async for page in batch.pool.list_by_batch_account(BATCH_RG, ACCOUNT).by_page()
    ]
    assert pages == [["a", "b"], ["c", "d"], ["e"]]
    capped = batch.pool.list_by_batch_account(BATCH_RG, ACCOUNT, maxresults=1).by_page()
    assert len([page async for page in capped]) == 5
    selected = [
        p
        async for p in batch.pool.list_by_batch_account(
            BATCH_RG, ACCOUNT, select="properties/allocationState,properties/scaleSettings"
        )
    ]
    assert [p.name for p in selected] == ["a", "b", "c", "d", "e"]
    assert all(p.allocation_state is not None and p.scale_settings is not None for p in selected)
    assert all(p.vm_size is None and p.deployment_configuration is None for p in selected)
    assert all(p.etag for p in selected)
