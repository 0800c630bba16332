"""Microsoft.Compute through azure-mgmt-compute (.aio) against azuresim."""

from __future__ import annotations

from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

from azuresim.testing import SimulatorThread
from tests.sim.conftest import POLL, RG, SUB, rid

pytestmark = pytest.mark.sim


async def test_vm_and_disks(compute: Any) -> None:
    vm = await compute.virtual_machines.get(RG, "prep-vm")
    assert vm.location == "westeurope"
    os_disk_id = vm.storage_profile.os_disk.managed_disk.id
    assert os_disk_id == rid("disks", "prep-vm-os")
    assert vm.storage_profile.data_disks[0].managed_disk.id == rid("disks", "prep-vm-data0")
    assert not vm.resources
    disk = await compute.disks.get(RG, "prep-vm-os")
    assert disk.disk_size_gb == 64
    assert disk.os_type == "Linux"
    assert disk.managed_by == vm.id


async def test_vm_preflight_signals(compute: Any) -> None:
    vm = await compute.virtual_machines.get(RG, "bad-vm")
    assert vm.storage_profile.os_disk.vhd.uri.endswith(".vhd")
    assert vm.storage_profile.os_disk.managed_disk is None
    assert vm.storage_profile.os_disk.encryption_settings.enabled is True
    assert vm.security_profile.encryption_at_host is True
    assert vm.plan.publisher == "thirdparty"
    assert [e.name for e in vm.resources] == ["CustomScript"]


async def test_not_found_messages(compute: Any) -> None:
    with pytest.raises(ResourceNotFoundError) as exc:
        await compute.images.get(RG, "nope")
    assert exc.value.error.code == "ResourceNotFound"
    assert (
        "The Resource 'Microsoft.Compute/images/nope' under resource group 'images-rg' was not found"
        in str(exc.value)
    )
    with pytest.raises(ResourceNotFoundError) as exc:
        await compute.images.get("no-such-rg", "x")
    assert exc.value.error.code == "ResourceGroupNotFound"


async def test_snapshot_lifecycle(compute: Any, sim: SimulatorThread) -> None:
    body = {
        "location": "westeurope",
        "properties": {
            "creationData": {"createOption": "Copy", "sourceResourceId": rid("disks", "prep-vm-os")}
        },
    }
    poller = await compute.snapshots.begin_create_or_update(RG, "snap1", body, **POLL)
    snap = await poller.result()
    assert snap.provisioning_state == "Succeeded"
    assert snap.disk_size_gb == 64
    assert snap.os_type == "Linux"
    got = await compute.snapshots.get(RG, "snap1")
    assert got.id == rid("snapshots", "snap1")
    names = [s.name async for s in compute.snapshots.list_by_resource_group(RG)]
    assert "snap1" in names
    assert "os-snap" in names
    await (await compute.snapshots.begin_delete(RG, "snap1", **POLL)).result()
    with pytest.raises(ResourceNotFoundError):
        await compute.snapshots.get(RG, "snap1")


async def test_snapshot_from_missing_disk(compute: Any) -> None:
    body = {
        "location": "westeurope",
        "properties": {"creationData": {"createOption": "Copy", "sourceResourceId": rid("disks", "ghost")}},
    }
    with pytest.raises(HttpResponseError) as exc:
        await compute.snapshots.begin_create_or_update(RG, "s", body, **POLL)
    assert exc.value.status_code == 404


def _image_body(snapshot: str = "os-snap") -> dict[str, Any]:
    return {
        "location": "westeurope",
        "properties": {
            "hyperVGeneration": "V2",
            "storageProfile": {
                "osDisk": {
                    "osType": "Linux",
                    "osState": "Generalized",
                    "snapshot": {"id": rid("snapshots", snapshot)},
                },
                "dataDisks": [],
            },
        },
    }


async def test_image_lro_uses_async_operation_header(compute: Any, sim: SimulatorThread) -> None:
    sim.clock(time_scale=1)  # slow: the first GET must still see Creating
    poller = await compute.images.begin_create_or_update(RG, "img1", _image_body(), **POLL)
    first = await compute.images.get(RG, "img1")
    assert first.provisioning_state == "Creating"
    sim.clock(time_scale=600, advance_seconds=3600)
    image = await poller.result()
    assert image.provisioning_state == "Succeeded"
    assert image.storage_profile.os_disk.snapshot.id == rid("snapshots", "os-snap")
    assert image.hyper_v_generation == "V2"
    listed = [i.name async for i in compute.images.list_by_resource_group(RG)]
    assert "img1" in listed
    ops = sim.requests()["byOperation"]
    assert ops["Images_CreateOrUpdate"] == 1
    assert ops["ComputeOperations_Get"] >= 1
    await (await compute.images.begin_delete(RG, "img1", **POLL)).result()
    with pytest.raises(ResourceNotFoundError):
        await compute.images.get(RG, "img1")


async def test_image_from_missing_snapshot(compute: Any) -> None:
    with pytest.raises(HttpResponseError) as exc:
        await compute.images.begin_create_or_update(RG, "img2", _image_body("ghost"), **POLL)
    assert exc.value.status_code == 404
    assert "ghost" in str(exc.value)


async def test_gallery_version_replicates(compute: Any, sim: SimulatorThread) -> None:
    await (await compute.images.begin_create_or_update(RG, "img", _image_body(), **POLL)).result()
    gallery = await compute.galleries.get(RG, "batchimages")
    assert gallery.identifier.unique_name.startswith(SUB)
    definition = {
        "location": "westeurope",
        "properties": {
            "osType": "Linux",
            "osState": "Generalized",
            "hyperVGeneration": "V2",
            "identifier": {"publisher": "azbatch", "offer": "render", "sku": "node"},
        },
    }
    d = await (
        await compute.gallery_images.begin_create_or_update(RG, "batchimages", "render", definition, **POLL)
    ).result()
    assert d.provisioning_state == "Succeeded"
    version = {
        "location": "westeurope",
        "properties": {
            "publishingProfile": {
                "targetRegions": [{"name": "westeurope", "regionalReplicaCount": 2}, {"name": "northeurope"}],
                "replicaCount": 1,
            },
            "storageProfile": {"source": {"id": rid("images", "img")}},
        },
    }
    sim.clock(time_scale=1)
    poller = await compute.gallery_image_versions.begin_create_or_update(
        RG, "batchimages", "render", "1.0.0", version, **POLL
    )
    mid = await compute.gallery_image_versions.get(
        RG, "batchimages", "render", "1.0.0", expand="ReplicationStatus"
    )
    assert mid.provisioning_state == "Creating"
    assert mid.replication_status.aggregated_state == "InProgress"
    sim.clock(time_scale=600, advance_seconds=3600)
    v = await poller.result()
    assert v.provisioning_state == "Succeeded"
    # the Gallery RP answers with display names, whatever form the request used
    assert [t.name for t in v.publishing_profile.target_regions] == ["West Europe", "North Europe"]
    done = await compute.gallery_image_versions.get(
        RG, "batchimages", "render", "1.0.0", expand="ReplicationStatus"
    )
    assert done.replication_status.aggregated_state == "Completed"
    assert {s.region for s in done.replication_status.summary} == {"West Europe", "North Europe"}
    versions = [
        x.name
        async for x in compute.gallery_image_versions.list_by_gallery_image(RG, "batchimages", "render")
    ]
    assert versions == ["1.0.0"]
    await (
        await compute.gallery_image_versions.begin_delete(RG, "batchimages", "render", "1.0.0", **POLL)
    ).result()
    with pytest.raises(ResourceNotFoundError):
        await compute.gallery_image_versions.get(RG, "batchimages", "render", "1.0.0")
    await (await compute.gallery_images.begin_delete(RG, "batchimages", "render", **POLL)).result()


async def test_gallery_version_needs_definition(compute: Any) -> None:
    version = {
        "location": "westeurope",
        "properties": {"storageProfile": {"source": {"id": rid("images", "x")}}},
    }
    with pytest.raises(ResourceNotFoundError) as exc:
        await compute.gallery_image_versions.begin_create_or_update(
            RG, "batchimages", "nodef", "1.0.0", version
        )
    assert exc.value.error.code == "ParentResourceNotFound"


async def test_api_version_checks(sim: SimulatorThread, cred: Any) -> None:
    import aiohttp

    token = (await cred.get_token("https://management.azure.com/.default")).token
    url = sim.url + rid("images", "x")
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession() as http:
        async with http.get(url, headers=headers, ssl=_ssl(sim)) as resp:
            assert resp.status == 400
            assert (await resp.json())["error"]["code"] == "MissingApiVersionParameter"
        async with http.get(url + "?api-version=not-a-date", headers=headers, ssl=_ssl(sim)) as resp:
            assert resp.status == 400
            assert (await resp.json())["error"]["code"] == "InvalidApiVersionParameter"
        # well-formed but not served: ARM's NoRegisteredProviderFound, naming what is served
        async with http.get(url + "?api-version=2019-01-01", headers=headers, ssl=_ssl(sim)) as resp:
            assert resp.status == 400
            body = await resp.json()
            assert body["error"]["code"] == "NoRegisteredProviderFound"
            assert (
                "location 'westeurope' and API version '2019-01-01' for type 'images'"
                in body["error"]["message"]
            )
            assert "2026-04-01" in body["error"]["message"]
            assert resp.headers["x-ms-request-id"]
            assert resp.headers["x-ms-correlation-request-id"]
            assert resp.headers["x-ms-ratelimit-remaining-subscription-reads"]


def _ssl(sim: SimulatorThread) -> Any:
    import ssl

    return ssl.create_default_context(cafile=sim.ca_file)
