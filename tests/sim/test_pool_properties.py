"""The whole Batch pool configuration through azure-mgmt-batch (.aio) against the simulator:
Batch's validation, live vs empty-pool updates, PUT on an existing pool, hidden secrets, and the
per-VM-family quota."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError

from azuresim.testing import SimulatorThread
from tests.sim.conftest import ACCOUNT, ACCOUNT_ID, BATCH_RG, SEED_VERSION, SUB

pytestmark = pytest.mark.sim

NET_RG = "net-rg"
NET = f"/subscriptions/{SUB}/resourceGroups/{NET_RG}/providers"
SUBNET = f"{NET}/Microsoft.Network/virtualNetworks/vnet/subnets/pools"
IDENTITY = f"{NET}/Microsoft.ManagedIdentity/userAssignedIdentities/pool-id"
DEFINITION = SEED_VERSION.rsplit("/versions/", 1)[0]
PASSWORD = "registry-canary-3f1c"


def seed_network(sim: SimulatorThread, trusted_launch: bool = True) -> None:
    sim.seed(
        {
            "subscriptions": [
                {
                    "id": SUB,
                    "resourceGroups": [
                        {
                            "name": NET_RG,
                            "location": "westeurope",
                            "virtualNetworks": [{"name": "vnet", "subnets": [{"name": "pools"}]}],
                            "userAssignedIdentities": [{"name": "pool-id"}],
                            "storageAccounts": [{"name": "batchdata", "containers": ["inputs"]}],
                        }
                    ],
                }
            ]
        }
    )
    if trusted_launch:
        sim.patch_resource(
            DEFINITION,
            {
                "hyperVGeneration": "V2",
                "features": [{"name": "SecurityType", "value": "TrustedLaunchSupported"}],
            },
        )


def full_body(ded: int = 0) -> dict[str, Any]:
    return {
        "identity": {"type": "UserAssigned", "userAssignedIdentities": {IDENTITY: {}}},
        "tags": {"team": "render"},
        "properties": {
            "vmSize": "Standard_D4s_v5",
            "displayName": "Render farm",
            "deploymentConfiguration": {
                "virtualMachineConfiguration": {
                    "imageReference": {"id": SEED_VERSION},
                    "nodeAgentSkuId": "batch.node.ubuntu 24.04",
                    "securityProfile": {
                        "securityType": "trustedLaunch",
                        "uefiSettings": {"secureBootEnabled": True, "vTpmEnabled": True},
                    },
                    "containerConfiguration": {
                        "type": "DockerCompatible",
                        "containerImageNames": ["x.azurecr.io/render:1"],
                        "containerRegistries": [
                            {"registryServer": "x.azurecr.io", "identityReference": {"resourceId": IDENTITY}},
                            {"registryServer": "docker.io", "username": "bot", "password": PASSWORD},
                        ],
                    },
                }
            },
            "networkConfiguration": {"subnetId": SUBNET},
            "mountConfiguration": [
                {
                    "azureBlobFileSystemConfiguration": {
                        "accountName": "batchdata",
                        "containerName": "inputs",
                        "relativeMountPath": "inputs",
                        "identityReference": {"resourceId": IDENTITY},
                    }
                }
            ],
            "startTask": {
                "commandLine": "/bin/sh -c 'install.sh'",
                "resourceFiles": [
                    {
                        "httpUrl": "https://batchdata.blob.core.windows.net/inputs/install.sh",
                        "filePath": "install.sh",
                        "identityReference": {"resourceId": IDENTITY},
                    }
                ],
                "waitForSuccess": True,
            },
            "taskSlotsPerNode": 4,
            "metadata": [{"name": "team", "value": "render"}],
            "scaleSettings": {"fixedScale": {"targetDedicatedNodes": ded, "resizeTimeout": "PT15M"}},
        },
    }


def code_of(exc: pytest.ExceptionInfo[HttpResponseError]) -> tuple[str, str]:
    details = {d.code: d.message for d in exc.value.error.details or []}
    return exc.value.error.code, details.get("PropertyName", "")


async def test_the_whole_configuration_is_stored_and_secrets_are_never_returned(
    batch: Any, sim: SimulatorThread
) -> None:
    seed_network(sim)
    created = await batch.pool.create(BATCH_RG, ACCOUNT, "full", full_body())
    got = (await batch.pool.get(BATCH_RG, ACCOUNT, "full")).as_dict()
    for view in (created.as_dict(), got):
        props = view["properties"]
        vmc = props["deploymentConfiguration"]["virtualMachineConfiguration"]
        assert vmc["securityProfile"]["securityType"] == "trustedLaunch"
        assert props["networkConfiguration"]["subnetId"] == SUBNET
        assert props["taskSlotsPerNode"] == 4
        assert props["mountConfiguration"][0]["azureBlobFileSystemConfiguration"]["identityReference"] == {
            "resourceId": IDENTITY
        }
        registries = vmc["containerConfiguration"]["containerRegistries"]
        assert registries[1] == {"registryServer": "docker.io", "username": "bot"}
        assert PASSWORD not in str(view)
        assert list(view["identity"]["userAssignedIdentities"]) == [IDENTITY]
        assert view["identity"]["userAssignedIdentities"][IDENTITY]["principalId"]
    assert PASSWORD not in str(sim.resource(f"{ACCOUNT_ID}/pools/full"))


@pytest.mark.parametrize(
    ("mutate", "code", "prop"),
    [
        (
            lambda b: b["properties"]["networkConfiguration"].update(subnetId=SUBNET + "x"),
            "InvalidPropertyValue",
            "subnetId",
        ),
        (
            lambda b: b["properties"]["networkConfiguration"].update(subnetId="pools"),
            "InvalidPropertyValue",
            "subnetId",
        ),
        (lambda b: b.update(identity={"type": "None"}), "InvalidPropertyValue", "resourceId"),
        (lambda b: b["properties"].update(taskSlotsPerNode=17), "InvalidPropertyValue", "taskSlotsPerNode"),
        (
            lambda b: b["properties"]["mountConfiguration"][0]["azureBlobFileSystemConfiguration"].update(
                sasKey="x"
            ),
            "InvalidPropertyValue",
            "azureBlobFileSystemConfiguration",
        ),
        (lambda b: b["properties"]["startTask"].pop("commandLine"), "MissingRequiredProperty", "commandLine"),
        (
            lambda b: b["properties"]["deploymentConfiguration"]["virtualMachineConfiguration"][
                "containerConfiguration"
            ].update(type="Podman"),
            "InvalidPropertyValue",
            "type",
        ),
        (
            lambda b: b["properties"]["deploymentConfiguration"]["virtualMachineConfiguration"].update(
                dataDisks=[{"lun": 1, "diskSizeGB": 8}, {"lun": 1, "diskSizeGB": 8}]
            ),
            "InvalidPropertyValue",
            "lun",
        ),
    ],
    ids=[
        "subnet-missing",
        "subnet-not-an-id",
        "identity-ref-not-on-pool",
        "task-slots-over-4x-cores",
        "blob-two-credentials",
        "start-task-no-command",
        "container-type",
        "duplicate-lun",
    ],
)
async def test_batch_validation(batch: Any, sim: SimulatorThread, mutate: Any, code: str, prop: str) -> None:
    seed_network(sim)
    body = copy.deepcopy(full_body())
    mutate(body)
    with pytest.raises(HttpResponseError) as exc:
        await batch.pool.create(BATCH_RG, ACCOUNT, "bad", body)
    assert exc.value.status_code == 400
    assert code_of(exc) == (code, prop)
    assert PASSWORD not in str(exc.value)
    assert sim.resource(f"{ACCOUNT_ID}/pools/bad") is None


async def test_trusted_launch_needs_a_gen2_image_that_declares_it(batch: Any, sim: SimulatorThread) -> None:
    seed_network(sim, trusted_launch=False)
    with pytest.raises(HttpResponseError) as exc:
        await batch.pool.create(BATCH_RG, ACCOUNT, "tl", full_body())
    assert code_of(exc) == ("InvalidPropertyValue", "securityType")
    assert "Generation 2" in exc.value.error.message


async def test_live_properties_change_on_a_pool_with_nodes_empty_pool_ones_do_not(
    batch: Any, sim: SimulatorThread
) -> None:
    seed_network(sim)
    await batch.pool.create(BATCH_RG, ACCOUNT, "live", full_body(ded=2))
    sim.clock(advance_seconds=600)
    patched = await batch.pool.update(
        BATCH_RG, ACCOUNT, "live", {"properties": {"startTask": {"commandLine": "v2"}, "metadata": []}}
    )
    assert patched.start_task.command_line == "v2"
    assert patched.metadata == []
    for prop, value in (("vmSize", "Standard_D8s_v5"), ("taskSlotsPerNode", 2), ("displayName", "x")):
        with pytest.raises(HttpResponseError) as exc:
            await batch.pool.update(BATCH_RG, ACCOUNT, "live", {"properties": {prop: value}})
        assert code_of(exc) == ("PropertyCannotBeUpdated", prop)
    removed = await batch.pool.update(BATCH_RG, ACCOUNT, "live", {"properties": {"startTask": {}}})
    assert removed.start_task is None
    await batch.pool.update(
        BATCH_RG,
        ACCOUNT,
        "live",
        {"properties": {"scaleSettings": {"fixedScale": {"targetDedicatedNodes": 0}}}},
    )
    sim.clock(advance_seconds=600)
    resized = await batch.pool.update(
        BATCH_RG, ACCOUNT, "live", {"properties": {"vmSize": "Standard_D8s_v5"}}
    )
    assert resized.vm_size == "Standard_D8s_v5"


async def test_put_on_an_existing_empty_pool_replaces_every_property(
    batch: Any, sim: SimulatorThread
) -> None:
    seed_network(sim)
    await batch.pool.create(BATCH_RG, ACCOUNT, "rep", full_body())
    body = full_body()
    for key in ("metadata", "taskSlotsPerNode", "mountConfiguration", "startTask"):
        body["properties"].pop(key)
    replaced = (await batch.pool.create(BATCH_RG, ACCOUNT, "rep", body)).as_dict()["properties"]
    assert replaced["taskSlotsPerNode"] == 1
    assert "metadata" not in replaced
    assert "mountConfiguration" not in replaced
    assert "startTask" not in replaced


async def test_per_vm_family_quota_is_enforced_by_default(batch: Any, sim: SimulatorThread) -> None:
    sim.patch_resource(
        ACCOUNT_ID, {"dedicatedCoreQuotaPerVMFamily": [{"name": "standardDSv5Family", "coreQuota": 16}]}
    )
    body = full_body(ded=10)
    body["properties"] = {
        k: v
        for k, v in body["properties"].items()
        if k in ("vmSize", "scaleSettings", "deploymentConfiguration")
    }
    del body["properties"]["deploymentConfiguration"]["virtualMachineConfiguration"]["securityProfile"]
    del body["properties"]["deploymentConfiguration"]["virtualMachineConfiguration"]["containerConfiguration"]
    del body["identity"]
    account = (await batch.batch_account.get(BATCH_RG, ACCOUNT)).as_dict()["properties"]
    assert account["dedicatedCoreQuotaPerVMFamilyEnforced"] is True
    await batch.pool.create(BATCH_RG, ACCOUNT, "fam", body)
    sim.clock(advance_seconds=600)
    pool = await batch.pool.get(BATCH_RG, ACCOUNT, "fam")
    assert pool.current_dedicated_nodes == 4  # 16 cores of the DSv5 family / 4 per node
    assert pool.resize_operation_status.errors[0].code == "AccountVMSeriesCoreQuotaReached"


async def test_spot_quota_code_on_user_subscription_accounts(batch: Any, sim: SimulatorThread) -> None:
    sim.patch_resource(ACCOUNT_ID, {"poolAllocationMode": "UserSubscription", "lowPriorityCoreQuota": 8})
    body = {
        "properties": {
            "vmSize": "Standard_D4s_v5",
            "deploymentConfiguration": {
                "virtualMachineConfiguration": {
                    "imageReference": {"id": SEED_VERSION},
                    "nodeAgentSkuId": "batch.node.ubuntu 24.04",
                }
            },
            "scaleSettings": {"fixedScale": {"targetDedicatedNodes": 0, "targetLowPriorityNodes": 5}},
        }
    }
    await batch.pool.create(BATCH_RG, ACCOUNT, "spot", body)
    sim.clock(advance_seconds=600)
    pool = await batch.pool.get(BATCH_RG, ACCOUNT, "spot")
    assert pool.current_low_priority_nodes == 2
    assert pool.resize_operation_status.errors[0].code == "AccountSpotCoreQuotaReached"
