"""Where Azure is stricter than a naive fake: codes, headers, SKUs, gallery rules, api-versions.

Each test drives the simulator through the real SDKs (or raw HTTPS where the point is a header)
and asserts what Azure documents; docs/simulator.md cites the sources.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from azure.core import MatchConditions
from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError

from azuresim.testing import SimulatorThread
from tests.sim.conftest import (
    ACCOUNT,
    ACCOUNT_ID,
    BATCH_RG,
    POLL,
    RG,
    SEED_VERSION,
    SUB,
    batch_client,
    rid,
)
from tests.sim.test_batch import pool_body, scale

pytestmark = pytest.mark.sim

GEN2_VERSION = rid("galleries", "batchimages", "images", "gen2", "versions", "1.0.0")
SKUS = [
    {"name": "Standard_D4s_v5", "vCPUs": 4},
    {"name": "Standard_A2_v2", "hyperVGenerations": ["V1"], "lowPriorityCapable": False},
    {"name": "Standard_D8s_v5", "allocation": "capacity"},
    {"name": "Standard_E4s_v5", "allocation": "internal"},
    {"name": "Standard_NC24ads_A100_v4", "allocation": "overconstrained"},
]


def _gen2_world() -> dict[str, Any]:
    return {
        "subscriptions": [
            {
                "id": SUB,
                "resourceGroups": [
                    {
                        "name": RG,
                        "galleries": [
                            {
                                "name": "batchimages",
                                "images": [
                                    {
                                        "name": "gen2",
                                        "osType": "Linux",
                                        "hyperVGeneration": "V2",
                                        "versions": [{"name": "1.0.0", "source": rid("images", "seed-img")}],
                                    }
                                ],
                            }
                        ],
                    }
                ],
            }
        ]
    }


async def _token(cred: Any) -> str:
    return str((await cred.get_token("https://management.azure.com/.default")).token)


@pytest.fixture
async def http(
    sim: SimulatorThread, cred: Any
) -> AsyncIterator[tuple[aiohttp.ClientSession, dict[str, str]]]:
    headers = {"Authorization": f"Bearer {await _token(cred)}", "Content-Type": "application/json"}
    async with aiohttp.ClientSession(
        base_url=sim.url, connector=aiohttp.TCPConnector(ssl=ssl.create_default_context(cafile=sim.ca_file))
    ) as session:
        yield session, headers


POOLS = (
    f"/subscriptions/{SUB}/resourceGroups/{BATCH_RG}/providers/Microsoft.Batch/batchAccounts/{ACCOUNT}/pools"
)
Q = "?api-version=2025-06-01"


# ------------------------------------------------------------------------------ codes and headers


async def test_missing_pool_is_pool_not_found(batch: Any) -> None:
    with pytest.raises(ResourceNotFoundError) as exc:
        await batch.pool.get(BATCH_RG, ACCOUNT, "nope")
    assert exc.value.error.code == "PoolNotFound"
    assert exc.value.error.message.startswith("The specified pool does not exist.")


async def test_changing_the_target_of_a_resizing_pool_is_pool_being_resized(
    batch: Any, sim: SimulatorThread
) -> None:
    sim.clock(time_scale=1)
    await batch.pool.create(BATCH_RG, ACCOUNT, "busy", pool_body(ded=300))
    with pytest.raises(ResourceExistsError) as exc:
        await batch.pool.update(BATCH_RG, ACCOUNT, "busy", scale(10))
    assert exc.value.status_code == 409
    assert exc.value.error.code == "PoolBeingResized"


async def test_pool_delete_answers_202_with_pool_operation_results_and_retry_after(
    sim: SimulatorThread, http: tuple[aiohttp.ClientSession, dict[str, str]], batch: Any
) -> None:
    sim.seed({"lro": {"retryAfterSeconds": 15}})
    session, headers = http
    await batch.pool.create(BATCH_RG, ACCOUNT, "gone", pool_body())
    async with session.delete(f"{POOLS}/gone{Q}", headers=headers) as resp:
        assert resp.status == 202
        location = resp.headers["Location"]
        assert resp.headers["Retry-After"] == "15"
    assert f"{ACCOUNT_ID}/poolOperationResults/delete-gone-".lower() in location.lower()
    assert location.endswith("api-version=2025-06-01")
    async with session.get(location[len(sim.url) :], headers=headers) as resp:
        assert resp.status == 202
        assert resp.headers["Retry-After"] == "15"
    sim.clock(advance_seconds=600)
    async with session.get(location[len(sim.url) :], headers=headers) as resp:
        assert resp.status == 200
    async with session.delete(f"{POOLS}/gone{Q}", headers=headers) as resp:
        assert resp.status == 204


async def test_properties_removed_in_2025_06_01_are_never_returned(batch: Any) -> None:
    body = pool_body()
    body["properties"] |= {
        "certificates": [{"id": f"{ACCOUNT_ID}/certificates/sha1-abc"}],
        "resourceTags": {"a": "b"},
        "targetNodeCommunicationMode": "Simplified",
    }
    await batch.pool.create(BATCH_RG, ACCOUNT, "modern", body)
    raw: dict[str, Any] = {}
    await batch.pool.get(BATCH_RG, ACCOUNT, "modern", cls=lambda r, d, h: raw.update(r.http_response.json()))
    for gone in (
        "certificates",
        "resourceTags",
        "targetNodeCommunicationMode",
        "currentNodeCommunicationMode",
    ):
        assert gone not in raw["properties"]


async def test_if_none_match_star_refuses_an_existing_pool_other_values_are_ignored(
    sim: SimulatorThread, http: tuple[aiohttp.ClientSession, dict[str, str]], batch: Any
) -> None:
    await batch.pool.create(BATCH_RG, ACCOUNT, "cond", pool_body())
    with pytest.raises(ResourceExistsError):
        await batch.pool.create(
            BATCH_RG, ACCOUNT, "cond", pool_body(), match_condition=MatchConditions.IfMissing
        )
    session, headers = http
    update = '{"properties": {"metadata": [{"name": "k", "value": "v"}]}}'
    async with session.put(
        f"{POOLS}/cond{Q}", data=update, headers=headers | {"If-None-Match": 'W/"0x8D0000"'}
    ) as resp:
        assert resp.status == 200, await resp.text()
        assert (await resp.json())["properties"]["metadata"] == [{"name": "k", "value": "v"}]
    async with session.put(f"{POOLS}/cond{Q}", data=update, headers=headers | {"If-None-Match": "*"}) as resp:
        assert resp.status == 412
        assert (await resp.json())["error"]["code"] == "ConditionNotMet"
    async with session.put(f"{POOLS}/fresh{Q}", data=update, headers=headers | {"If-Match": "*"}) as resp:
        assert resp.status == 412


async def test_image_ids_are_found_with_or_without_the_leading_slash(batch: Any) -> None:
    pool = await batch.pool.create(BATCH_RG, ACCOUNT, "noslash", pool_body(image=SEED_VERSION.lstrip("/")))
    assert pool.provisioning_state == "Succeeded"


@pytest.mark.parametrize(
    ("formula", "code"),
    [
        ("$TargetDedicatedNodes = ", "AutoScalingFormulaSyntaxError"),
        ("$TargetDedicatedNodes = max(1, 2", "AutoScalingFormulaSyntaxError"),
        ("scale me up please", "AutoScalingFormulaSyntaxError"),
        ("$TargetDedicatedNodes = 1;" * 1000, "AutoScalingFormulaTooLong"),
    ],
)
async def test_a_bad_autoscale_formula_is_400(batch: Any, formula: str, code: str) -> None:
    body = pool_body()
    body["properties"]["scaleSettings"] = {"autoScale": {"formula": formula, "evaluationInterval": "PT5M"}}
    with pytest.raises(HttpResponseError) as exc:
        await batch.pool.create(BATCH_RG, ACCOUNT, "auto", body)
    assert exc.value.status_code == 400
    assert exc.value.error.code == code
    with pytest.raises(ResourceNotFoundError):
        await batch.pool.get(BATCH_RG, ACCOUNT, "auto")


async def test_a_documented_autoscale_formula_is_accepted(batch: Any) -> None:
    formula = (
        "// pending tasks, as in Batch's autoscale guide\n"
        "$samples = $PendingTasks.GetSamplePercent(TimeInterval_Minute * 5);\n"
        "$tasks = $samples < 70 ? max(0, $PendingTasks.GetSample(1)) : max($PendingTasks.GetSample(1), "
        "avg($PendingTasks.GetSample(TimeInterval_Minute * 5)));\n"
        "$TargetDedicatedNodes = max(0, min($tasks, 25));\n"
        "$NodeDeallocationOption = taskcompletion;"
    )
    body = pool_body()
    body["properties"]["scaleSettings"] = {"autoScale": {"formula": formula, "evaluationInterval": "PT15M"}}
    pool = await batch.pool.create(BATCH_RG, ACCOUNT, "auto-ok", body)
    assert pool.scale_settings.auto_scale.formula == formula


# ------------------------------------------------------------------------------ api-versions


async def test_older_served_versions_work_and_an_unserved_region_answers_no_registered_provider(
    sim: SimulatorThread, cred: Any
) -> None:
    async with batch_client(sim, cred, api_version="2024-07-01") as older:
        account = await older.batch_account.get(BATCH_RG, ACCOUNT)
        assert account.name == ACCOUNT
    sim.seed({"apiVersions": {"notServedIn": {"westeurope": {"batch": ["2025-06-01"]}}}})
    async with batch_client(sim, cred) as newest:
        with pytest.raises(HttpResponseError) as exc:
            await newest.batch_account.get(BATCH_RG, ACCOUNT)
    assert exc.value.status_code == 400
    assert exc.value.error.code == "NoRegisteredProviderFound"
    message = exc.value.error.message
    assert "location 'westeurope' and API version '2025-06-01' for type 'batchAccounts'" in message
    assert "2024-07-01" in message
    assert "2025-06-01" not in message.split("supported api-versions are")[1]


# ------------------------------------------------------------------------------ VM sizes


async def _steady_error(batch: Any, sim: SimulatorThread, name: str) -> dict[str, Any]:
    sim.clock(advance_seconds=120)
    pool = await batch.pool.get(BATCH_RG, ACCOUNT, name)
    assert pool.allocation_state == "Steady"
    assert pool.current_dedicated_nodes == 0
    (error,) = pool.resize_operation_status.errors
    return {
        "code": error.code,
        "message": error.message,
        "details": [(d.code, d.message) for d in error.details or []],
    }


async def test_declared_skus_are_listed_and_an_undeclared_vm_size_is_refused(
    sim: SimulatorThread, batch: Any
) -> None:
    sim.seed({"batch": {"vmSizes": SKUS}})
    listed = [s async for s in batch.location.list_supported_virtual_machine_skus("westeurope")]
    assert [s.name for s in listed] == [s["name"] for s in SKUS]
    a2 = next(s for s in listed if s.name == "Standard_A2_v2")
    caps = {c.name: c.value for c in a2.capabilities}
    assert (caps["HyperVGenerations"], caps["LowPriorityCapable"]) == ("V1", "False")
    assert a2.family_name == "standardAv2Family"
    with pytest.raises(HttpResponseError) as exc:
        await batch.pool.create(BATCH_RG, ACCOUNT, "bigsize", pool_body(vm_size="Standard_HB120rs_v3"))
    assert exc.value.status_code == 400
    assert exc.value.error.code == "InvalidPropertyValue"
    assert {"code": "PropertyName", "message": "vmSize"} in [
        {"code": d.code, "message": d.message} for d in exc.value.error.details
    ]


@pytest.mark.parametrize(
    ("vm_size", "code", "detail"),
    [
        ("Standard_D8s_v5", "AllocationFailed", "We do not have sufficient capacity"),
        ("Standard_E4s_v5", "AllocationFailed", "due to an internal error"),
        ("Standard_NC24ads_A100_v4", "OverconstrainedAllocationRequestError", None),
    ],
)
async def test_allocation_failures_with_the_image_present(
    sim: SimulatorThread, batch: Any, vm_size: str, code: str, detail: str | None
) -> None:
    sim.seed({"batch": {"vmSizes": SKUS}})
    await batch.pool.create(BATCH_RG, ACCOUNT, "p", pool_body(ded=4, vm_size=vm_size))
    error = await _steady_error(batch, sim, "p")
    assert error["code"] == code
    if detail:
        assert error["message"] == "Desired number of dedicated nodes could not be allocated"
        assert detail in error["details"][0][1]
    else:
        assert "constraints cannot be allocated" in error["message"]


async def test_a_gen2_image_on_a_size_that_cannot_boot_it_fails_allocation(
    sim: SimulatorThread, batch: Any
) -> None:
    sim.seed({"batch": {"vmSizes": SKUS}} | _gen2_world())
    await batch.pool.create(
        BATCH_RG, ACCOUNT, "gen2", pool_body(GEN2_VERSION, ded=2, vm_size="Standard_A2_v2")
    )
    error = await _steady_error(batch, sim, "gen2")
    assert error["code"] == "AllocationFailed"
    assert error["details"][0][0] == "BadRequest"
    assert "cannot boot Hypervisor Generation '2'" in error["details"][0][1]
    # the same image on a size that boots Gen2 allocates
    await batch.pool.create(BATCH_RG, ACCOUNT, "gen2ok", pool_body(GEN2_VERSION, ded=2))
    sim.clock(advance_seconds=120)
    assert (await batch.pool.get(BATCH_RG, ACCOUNT, "gen2ok")).current_dedicated_nodes == 2


async def test_low_priority_nodes_on_a_size_without_them_is_incompatible(
    sim: SimulatorThread, batch: Any
) -> None:
    sim.seed({"batch": {"vmSizes": SKUS}})
    await batch.pool.create(BATCH_RG, ACCOUNT, "spot", pool_body(low=2, vm_size="Standard_A2_v2"))
    sim.clock(advance_seconds=120)
    pool = await batch.pool.get(BATCH_RG, ACCOUNT, "spot")
    (error,) = pool.resize_operation_status.errors
    assert error.code == "IncompatibleVMSize"
    assert "not compatible with requested configuration" in error.message


# ------------------------------------------------------------------------------ galleries


def _version(source: str, regions: list[str], location: str = "westeurope", **props: Any) -> dict[str, Any]:
    return {
        "location": location,
        "properties": {
            "publishingProfile": {"targetRegions": [{"name": r} for r in regions]},
            "storageProfile": {"source": {"id": source}},
            **props,
        },
    }


async def _definition(compute: Any, name: str, gen: str) -> None:
    body = {
        "location": "westeurope",
        "properties": {
            "osType": "Linux",
            "osState": "Generalized",
            "hyperVGeneration": gen,
            "identifier": {"publisher": "p", "offer": name, "sku": name},
        },
    }
    await (
        await compute.gallery_images.begin_create_or_update(RG, "batchimages", name, body, **POLL)
    ).result()


async def test_a_source_of_another_generation_fails_the_version_operation(compute: Any) -> None:
    await _definition(compute, "gen2def", "V2")
    poller = await compute.gallery_image_versions.begin_create_or_update(
        RG, "batchimages", "gen2def", "1.0.0", _version(rid("images", "seed-img"), ["westeurope"]), **POLL
    )
    with pytest.raises(HttpResponseError) as exc:
        await poller.result()
    assert "different Hypervisor generation ['V1'] than the parent gallery image" in str(exc.value)
    version = await compute.gallery_image_versions.get(RG, "batchimages", "gen2def", "1.0.0")
    assert version.provisioning_state == "Failed"


async def test_a_version_lives_in_its_gallery_region(compute: Any) -> None:
    elsewhere = {
        "location": "northeurope",
        "properties": {
            "osType": "Linux",
            "osState": "Generalized",
            "identifier": {"publisher": "p", "offer": "o", "sku": "s"},
        },
    }
    with pytest.raises(HttpResponseError) as exc:
        await compute.gallery_images.begin_create_or_update(RG, "batchimages", "away", elsewhere)
    assert (exc.value.status_code, exc.value.error.code) == (400, "InvalidParameter")
    await _definition(compute, "where", "V1")
    with pytest.raises(HttpResponseError) as exc:
        await compute.gallery_image_versions.begin_create_or_update(
            RG,
            "batchimages",
            "where",
            "1.0.0",
            _version(rid("images", "seed-img"), ["westeurope"], "northeurope"),
        )
    assert exc.value.status_code == 400
    assert exc.value.error.code == "InvalidParameter"


async def test_removing_a_replicated_region_needs_the_safety_profile(
    compute: Any, sim: SimulatorThread
) -> None:
    await _definition(compute, "regions", "V1")
    body = _version(rid("images", "seed-img"), ["westeurope", "North Europe"])
    await (
        await compute.gallery_image_versions.begin_create_or_update(
            RG, "batchimages", "regions", "1.0.0", body, **POLL
        )
    ).result()
    got = await compute.gallery_image_versions.get(RG, "batchimages", "regions", "1.0.0")
    assert [t.name for t in got.publishing_profile.target_regions] == ["West Europe", "North Europe"]
    assert got.safety_profile.allow_deletion_of_replicated_locations is False
    shrink = {"properties": {"publishingProfile": {"targetRegions": [{"name": "westeurope"}]}}}
    with pytest.raises(HttpResponseError) as exc:
        await compute.gallery_image_versions.begin_update(RG, "batchimages", "regions", "1.0.0", shrink)
    assert exc.value.status_code == 409
    assert "allowDeletionOfReplicatedLocations" in exc.value.error.message
    shrink["properties"]["safetyProfile"] = {"allowDeletionOfReplicatedLocations": True}
    done = await (
        await compute.gallery_image_versions.begin_update(
            RG, "batchimages", "regions", "1.0.0", shrink, **POLL
        )
    ).result()
    assert [t.name for t in done.publishing_profile.target_regions] == ["West Europe"]


async def test_data_disks_of_the_source_image_are_data_disk_images(compute: Any) -> None:
    image = {
        "location": "westeurope",
        "properties": {
            "storageProfile": {
                "osDisk": {
                    "osType": "Linux",
                    "osState": "Generalized",
                    "snapshot": {"id": rid("snapshots", "os-snap")},
                },
                "dataDisks": [{"lun": 3, "snapshot": {"id": rid("snapshots", "os-snap")}}],
            }
        },
    }
    await (await compute.images.begin_create_or_update(RG, "withdata", image, **POLL)).result()
    await _definition(compute, "data", "V1")
    version = await (
        await compute.gallery_image_versions.begin_create_or_update(
            RG, "batchimages", "data", "1.0.0", _version(rid("images", "withdata"), ["westeurope"]), **POLL
        )
    ).result()
    (disk,) = version.storage_profile.data_disk_images
    assert (disk.lun, disk.size_in_gb) == (3, 64)


# ------------------------------------------------------------------------------ admin API


async def test_seeded_fault_rules_fire_on_the_same_requests(
    sim: SimulatorThread, http: tuple[aiohttp.ClientSession, dict[str, str]]
) -> None:
    session, headers = http

    async def pattern() -> list[int]:
        sim.clear_faults()
        sim.faults({"pathRegex": "/batchAccounts/", "status": 503, "rate": 0.5, "seed": 42})
        out = []
        for _ in range(24):
            async with session.get(f"{POOLS}{Q}", headers=headers) as resp:
                out.append(resp.status)
        return out

    first, second = await pattern(), await pattern()
    assert first == second
    assert {200, 503} == set(first)


async def test_request_counts_stay_exact_beyond_the_recent_window(
    sim: SimulatorThread, http: tuple[aiohttp.ClientSession, dict[str, str]]
) -> None:
    session, _ = http
    sim.reset_requests()
    for _ in range(1100):
        async with session.get(f"{POOLS}{Q}") as resp:  # no token: 401, cheap and never throttled
            assert resp.status == 401
    stats = sim.requests()
    assert stats["total"] == 1100
    assert stats["byOperation"]["Pool_ListByBatchAccount"] == 1100
    assert stats["recentWindow"] == 1000
    assert len(stats["recent"]) == 1000
