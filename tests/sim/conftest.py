"""Fixtures for simulator tests: an in-process azuresim plus real azure SDK `.aio` clients."""

from __future__ import annotations

import copy
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

SIMULATOR_SRC = Path(__file__).resolve().parents[2] / "simulator"
if str(SIMULATOR_SRC) not in sys.path:
    sys.path.insert(0, str(SIMULATOR_SRC))

from azuresim.testing import SimulatorThread  # noqa: E402

TENANT = "11111111-1111-1111-1111-111111111111"
CLIENT = "22222222-2222-2222-2222-222222222222"
SECRET = "s3cret-value"
READER = "33333333-3333-3333-3333-333333333333"
NOBODY = "44444444-4444-4444-4444-444444444444"
SUB = "55555555-5555-5555-5555-555555555555"
RG = "images-rg"
BATCH_RG = "batch-rg"
ACCOUNT = "acct1"


def rid(*parts: str, rg: str = RG, ns: str = "Microsoft.Compute") -> str:
    return f"/subscriptions/{SUB}/resourceGroups/{rg}/providers/{ns}/" + "/".join(parts)


ACCOUNT_ID = rid("batchAccounts", ACCOUNT, rg=BATCH_RG, ns="Microsoft.Batch")
SEED_IMAGE = rid("images", "seed-img")
SEED_VERSION = rid("galleries", "batchimages", "images", "seeded", "versions", "1.0.0")

WORLD: dict[str, Any] = {
    "tenants": [
        {
            "id": TENANT,
            "principals": [
                {
                    "clientId": CLIENT,
                    "secret": SECRET,
                    "name": "azbatch-operator",
                    "federatedSubjects": ["system:serviceaccount:azbatch-system:azbatch-operator"],
                },
                {"clientId": READER, "secret": "reader-secret", "name": "reader"},
                {"clientId": NOBODY, "secret": "nobody-secret", "name": "nobody"},
            ],
        }
    ],
    "subscriptions": [
        {
            "id": SUB,
            "tenant": TENANT,
            "roleAssignments": [
                {"principal": CLIENT, "scope": f"/subscriptions/{SUB}", "role": "Contributor"},
                {"principal": READER, "scope": f"/subscriptions/{SUB}", "role": "Reader"},
            ],
            "resourceGroups": [
                {
                    "name": RG,
                    "location": "westeurope",
                    "virtualMachines": [
                        {
                            "name": "prep-vm",
                            "osDisk": {"name": "prep-vm-os", "sizeGB": 64, "osType": "Linux"},
                            "dataDisks": [{"lun": 0, "name": "prep-vm-data0", "sizeGB": 128}],
                            "extensions": [],
                        },
                        {
                            "name": "bad-vm",
                            "osDisk": {"name": "bad-vm-os", "encrypted": True, "managed": False},
                            "extensions": ["CustomScript"],
                            "plan": {"name": "p", "publisher": "thirdparty", "product": "x"},
                            "encryptionAtHost": True,
                        },
                    ],
                    "snapshots": [{"name": "os-snap", "osType": "Linux", "sizeGB": 64}],
                    "images": [
                        {
                            "name": "seed-img",
                            "snapshot": f"/subscriptions/{SUB}/resourceGroups/{RG}"
                            "/providers/Microsoft.Compute/snapshots/os-snap",
                        }
                    ],
                    "galleries": [
                        {
                            "name": "batchimages",
                            "images": [
                                {
                                    "name": "seeded",
                                    "osType": "Linux",
                                    "versions": [
                                        {
                                            "name": "1.0.0",
                                            "source": f"/subscriptions/{SUB}/resourceGroups/{RG}"
                                            "/providers/Microsoft.Compute/images/seed-img",
                                            "targetRegions": ["westeurope"],
                                        }
                                    ],
                                }
                            ],
                        }
                    ],
                },
                {
                    "name": BATCH_RG,
                    "location": "westeurope",
                    "batchAccounts": [
                        {
                            "name": ACCOUNT,
                            "poolAllocationMode": "BatchService",
                            "dedicatedCoreQuota": 20000,
                            "lowPriorityCoreQuota": 5000,
                            "poolQuota": 100,
                        }
                    ],
                },
            ],
        }
    ],
    "batch": {"nodesPerMinute": 200, "maxNodesPerResize": 400, "managedImagePoolsRetired": True},
    # fast LROs: no Retry-After so the SDK pollers use the polling_interval the tests pass
    "lro": {"retryAfterSeconds": 0},
}

POLL = {"polling_interval": 0.05}


def world(**overrides: Any) -> dict[str, Any]:
    w = copy.deepcopy(WORLD)
    for k, v in overrides.items():
        w[k] = v
    return w


@pytest.fixture
def sim_world() -> dict[str, Any]:
    """Override in a test module to seed a different world."""
    return world()


@pytest.fixture
def sim(sim_world: dict[str, Any]) -> Iterator[SimulatorThread]:
    s = SimulatorThread(sim_world, time_scale=60).start()
    try:
        yield s
    finally:
        s.stop()


def credential(sim: SimulatorThread, client: str = CLIENT, secret: str = SECRET) -> Any:
    from azure.identity.aio import ClientSecretCredential

    return ClientSecretCredential(TENANT, client, secret, authority=sim.url, connection_verify=sim.ca_file)


@pytest.fixture
async def cred(sim: SimulatorThread) -> AsyncIterator[Any]:
    c = credential(sim)
    async with c:
        yield c


def compute_client(sim: SimulatorThread, cred: Any, **kw: Any) -> Any:
    from azure.mgmt.compute.aio import ComputeManagementClient

    return ComputeManagementClient(cred, SUB, base_url=sim.url, connection_verify=sim.ca_file, **kw)


def batch_client(sim: SimulatorThread, cred: Any, **kw: Any) -> Any:
    from azure.mgmt.batch.aio import BatchManagementClient

    return BatchManagementClient(cred, SUB, base_url=sim.url, connection_verify=sim.ca_file, **kw)


@pytest.fixture
async def compute(sim: SimulatorThread, cred: Any) -> AsyncIterator[Any]:
    async with compute_client(sim, cred) as c:
        yield c


@pytest.fixture
async def batch(sim: SimulatorThread, cred: Any) -> AsyncIterator[Any]:
    async with batch_client(sim, cred) as c:
        yield c
