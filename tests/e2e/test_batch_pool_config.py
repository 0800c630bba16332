"""The whole Batch pool configuration end to end: the production example, in-place updates,
drift correction, empty-pool-only changes, Secrets (missing, rotated, never leaked).

ARM calls are counted from the simulator's request log (`GET /_sim/requests`), restricted to this
test's resource groups; the figures are printed (run with -s) for the issue's note.
"""

from __future__ import annotations

import hashlib
import json
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

from azbatch_operator.api import BatchPoolSpec
from azbatch_operator.devtools import processes
from azbatch_operator.devtools.controlplane import ControlPlane
from azbatch_operator.devtools.stack import Operator
from azbatch_operator.reconcile import names, pool_config, pool_diff
from azuresim.admin import AdminClient
from tests.e2e.conftest import (
    SUBSCRIPTION,
    TENANT,
    SimulatorHandle,
    World,
    seed_world,
    wait_condition,
    wait_for,
)
from tests.e2e.test_batch_pool_resize import arm_requests, seed_gallery_version
from tests.e2e.test_operations import replica
from tests.kube import Kubectl

REPO = Path(__file__).resolve().parents[2]
WRITES = ("Pool_Create", "Pool_Update", "Pool_StopResize", "Pool_Delete")


def seed_network(admin: AdminClient, world: World) -> None:
    """The subnet, identity and storage account the production example names, plus a Gen2 snapshot."""
    admin.seed(
        {
            "subscriptions": [
                {
                    "id": SUBSCRIPTION,
                    "tenant": TENANT,
                    "resourceGroups": [
                        {
                            "name": world.batch_rg,
                            "location": "westeurope",
                            "virtualNetworks": [{"name": "batch-vnet", "subnets": [{"name": "pools"}]}],
                            "userAssignedIdentities": [{"name": "pool-identity"}],
                            "storageAccounts": [{"name": "batchdata", "containers": ["inputs", "tools"]}],
                        },
                        {
                            "name": world.images_rg,
                            "location": "westeurope",
                            "snapshots": [
                                {
                                    "name": "os-snap-gen2",
                                    "osType": "Linux",
                                    "sizeGB": 64,
                                    "hyperVGeneration": "V2",
                                }
                            ],
                        },
                    ],
                }
            ]
        }
    )


def localized(example: str, world: World) -> dict[str, Any]:
    """An example with its resource groups, account and gallery replaced by this test's."""
    text = (REPO / "examples" / example).read_text()
    for old, new in (
        ("/resourceGroups/images-rg/", f"/resourceGroups/{world.images_rg}/"),
        ("/resourceGroups/batch-rg/", f"/resourceGroups/{world.batch_rg}/"),
        ("resourceGroup: images-rg", f"resourceGroup: {world.images_rg}"),
        ("/batchAccounts/acct1", f"/batchAccounts/{world.account_name}"),
        ("/galleries/batchimages", "/galleries/gallery1"),
    ):
        text = text.replace(old, new)
    doc: dict[str, Any] = yaml.safe_load(text)
    doc["metadata"]["namespace"] = world.namespace
    return doc


def azure_pool(admin: AdminClient, world: World, name: str) -> dict[str, Any]:
    found = admin.resource(world.pool_id(name))
    assert found is not None, f"pool {name} is not in the simulator"
    return found


def writes(admin: AdminClient, world: World) -> Counter[str]:
    return Counter({op: n for op, n in arm_requests(admin, world).items() if op in WRITES})


def pool(world: World, image_id: str, name: str = "cfg", dedicated: int = 1, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "azbatch.io/v1alpha1",
        "kind": "BatchPool",
        "metadata": {"name": name, "namespace": world.namespace},
        "spec": {
            "accountId": world.account_id,
            "vmSize": "Standard_D2s_v5",
            "nodeAgentSkuId": "batch.node.ubuntu 24.04",
            "image": {"id": image_id},
            "scale": {"fixed": {"targetDedicatedNodes": dedicated}},
            **spec,
        },
    }


def patch_spec(kubectl: Kubectl, world: World, name: str, spec: dict[str, Any]) -> None:
    body = json.dumps({"spec": spec})
    kubectl.run("patch", "batchpool", name, "-n", world.namespace, "--type=merge", "-p", body)


def wait_ready_at(kubectl: Kubectl, world: World, name: str, generation: int) -> dict[str, Any]:
    wait_for(kubectl, "batchpool", world.namespace, name, ".status.observedGeneration", str(generation), 120)
    return wait_condition(kubectl, "batchpool", world.namespace, name, "Ready", "Succeeded", timeout=120)


def test_production_example_reaches_ready_with_every_field_in_azure(
    kubectl: Kubectl, operator: Operator, simulator: SimulatorHandle, world: World
) -> None:
    admin = simulator.admin
    seed_network(admin, world)
    image = localized("managedimage-trusted-launch.yaml", world)
    prod = localized("batchpool-production.yaml", world)
    kubectl.apply(image)
    kubectl.apply(prod)
    img = wait_condition(kubectl, "managedimage", world.namespace, "render-node-tl", "Ready", timeout=180)
    obj = wait_condition(
        kubectl, "batchpool", world.namespace, "render-prod", "Ready", "Succeeded", timeout=180
    )
    assert obj["status"]["currentDedicatedNodes"] == 2

    definition = admin.resource(img["status"]["galleryImageVersionId"].rsplit("/versions/", 1)[0])
    assert definition is not None
    assert {"name": "SecurityType", "value": "TrustedLaunchSupported"} in definition["properties"]["features"]

    actual = azure_pool(admin, world, "render-prod")
    spec = BatchPoolSpec.model_validate(obj["spec"])
    meta = names.ObjectMeta(world.namespace, "render-prod", obj["metadata"]["uid"])
    desired = pool_config.desired_pool(meta, spec, obj["status"]["imageReference"])
    found = pool_diff.diff(desired, actual)
    assert not found.changed, (found.live_fields, found.empty_fields)
    props = actual["properties"]
    vmc = props["deploymentConfiguration"]["virtualMachineConfiguration"]
    identity = prod["spec"]["identity"]["userAssignedIdentities"][0]
    assert vmc["securityProfile"] == {
        "securityType": "trustedLaunch",
        "uefiSettings": {"secureBootEnabled": True, "vTpmEnabled": True},
    }
    assert vmc["nodeAgentSkuId"] == "batch.node.ubuntu 24.04"
    assert vmc["containerConfiguration"]["containerRegistries"][0]["identityReference"] == {
        "resourceId": identity
    }
    assert vmc["osDisk"] == {"caching": "ReadOnly", "managedDisk": {"storageAccountType": "Premium_LRS"}}
    assert vmc["nodePlacementConfiguration"] == {"policy": "Regional"}
    assert props["networkConfiguration"]["subnetId"].endswith("/virtualNetworks/batch-vnet/subnets/pools")
    assert props["startTask"]["resourceFiles"][0]["identityReference"] == {"resourceId": identity}
    blob = props["mountConfiguration"][0]["azureBlobFileSystemConfiguration"]
    assert blob["identityReference"] == {"resourceId": identity}
    assert props["taskSlotsPerNode"] == 4
    assert props["taskSchedulingPolicy"] == {"nodeFillType": "Pack"}
    assert props["displayName"] == "Render farm (production)"
    assert {"name": "team", "value": "render"} in props["metadata"]
    assert {m["name"] for m in props["metadata"]} >= {names.OWNER_TAG, names.UID_TAG}
    assert actual["tags"] == {"cost-center": "render-farm"}
    assert list(actual["identity"]["userAssignedIdentities"]) == [identity]


def test_live_change_is_one_patch_and_out_of_band_drift_is_reverted(
    kubectl: Kubectl, operator: Operator, simulator: SimulatorHandle, world: World
) -> None:
    admin = simulator.admin
    version = seed_gallery_version(admin, world)
    app = f"{world.account_id}/applications"
    kubectl.apply(
        pool(
            world,
            version,
            startTask={"commandLine": "/bin/sh -c 'echo v1'"},
            metadata=[{"name": "team", "value": "render"}],
            applicationPackages=[{"id": f"{app}/blender", "version": "4.1"}],
        )
    )
    wait_ready_at(kubectl, world, "cfg", 1)

    admin.reset_requests()
    patch_spec(
        kubectl,
        world,
        "cfg",
        {
            "startTask": {"commandLine": "/bin/sh -c 'echo v2'"},
            "metadata": [{"name": "team", "value": "render"}, {"name": "tier", "value": "gold"}],
            "applicationPackages": [{"id": f"{app}/blender", "version": "4.2"}, {"id": f"{app}/ffmpeg"}],
        },
    )
    wait_ready_at(kubectl, world, "cfg", 2)
    update_calls = arm_requests(admin, world)
    assert writes(admin, world) == Counter({"Pool_Update": 1}), update_calls
    props = azure_pool(admin, world, "cfg")["properties"]
    assert props["startTask"]["commandLine"] == "/bin/sh -c 'echo v2'"
    assert {"name": "tier", "value": "gold"} in props["metadata"]
    assert {m["name"] for m in props["metadata"]} >= {names.OWNER_TAG, names.UID_TAG}
    assert [p["id"].rsplit("/", 1)[-1] for p in props["applicationPackages"]] == ["blender", "ffmpeg"]
    assert props["currentDedicatedNodes"] == 1
    assert props["allocationState"] == "Steady"  # the PATCH carried no scale: no resize
    print(f"\nARM calls per in-place update (from the spec change to Ready): {dict(update_calls)}")

    admin.reset_requests()
    admin.patch_resource(
        world.pool_id("cfg"),
        {
            "startTask": {"commandLine": "tampered"},
            "metadata": [{"name": "team", "value": "someone-else"}],
            "applicationPackages": [],
        },
    )
    processes.wait_until(
        lambda: (
            azure_pool(admin, world, "cfg")["properties"]["startTask"]["commandLine"]
            == "/bin/sh -c 'echo v2'"
        ),
        90,
        "the operator to revert the out-of-band change (one slow poll)",
    )
    drift_calls = arm_requests(admin, world)
    assert writes(admin, world) == Counter({"Pool_Update": 1}), drift_calls
    props = azure_pool(admin, world, "cfg")["properties"]
    assert {"name": "tier", "value": "gold"} in props["metadata"]
    assert {m["name"] for m in props["metadata"]} >= {names.OWNER_TAG, names.UID_TAG}
    assert len(props["applicationPackages"]) == 2
    print(f"ARM calls per drift correction (out-of-band change to reverted): {dict(drift_calls)}")


def test_vm_size_change_needs_an_empty_pool(
    kubectl: Kubectl, operator: Operator, simulator: SimulatorHandle, world: World
) -> None:
    admin = simulator.admin
    version = seed_gallery_version(admin, world)
    kubectl.apply(pool(world, version, dedicated=2))
    wait_ready_at(kubectl, world, "cfg", 1)
    admin.reset_requests()
    patch_spec(kubectl, world, "cfg", {"vmSize": "Standard_D8s_v5", "taskSlotsPerNode": 8})
    obj = wait_condition(kubectl, "batchpool", world.namespace, "cfg", "Stalled", "UpdateRequiresEmptyPool")
    message = next(c for c in obj["status"]["conditions"] if c["type"] == "Stalled")["message"]
    assert "vmSize, taskSlotsPerNode" in message
    assert "targetDedicatedNodes" in message  # says how to apply it
    ready = next(c for c in obj["status"]["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "False"
    assert writes(admin, world) == Counter()
    assert azure_pool(admin, world, "cfg")["properties"]["vmSize"] == "Standard_D2s_v5"

    # Scaling to 0 is the way: the operator empties the pool, then PATCHes the new size.
    patch_spec(kubectl, world, "cfg", {"scale": {"fixed": {"targetDedicatedNodes": 0}}})
    wait_ready_at(kubectl, world, "cfg", 3)
    props = azure_pool(admin, world, "cfg")["properties"]
    assert props["vmSize"] == "Standard_D8s_v5"
    assert props["taskSlotsPerNode"] == 8
    assert writes(admin, world) == Counter({"Pool_Update": 2})  # resize to 0, then the new size


def test_vm_size_change_on_an_empty_pool_is_one_patch(
    kubectl: Kubectl, operator: Operator, simulator: SimulatorHandle, world: World
) -> None:
    admin = simulator.admin
    version = seed_gallery_version(admin, world)
    kubectl.apply(pool(world, version, dedicated=0))
    wait_ready_at(kubectl, world, "cfg", 1)
    admin.reset_requests()
    patch_spec(kubectl, world, "cfg", {"vmSize": "Standard_D4s_v5"})
    wait_ready_at(kubectl, world, "cfg", 2)
    assert azure_pool(admin, world, "cfg")["properties"]["vmSize"] == "Standard_D4s_v5"
    assert writes(admin, world) == Counter({"Pool_Update": 1})


CANARY_1 = "canary-pw-7f3e1d-first"
CANARY_2 = "canary-pw-9a4c2b-rotated"


def secret(world: World, password: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "acr-pull", "namespace": world.namespace},
        "stringData": {"password": password, "render": password + "-user"},
    }


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@pytest.mark.isolated
def test_secret_missing_then_given_then_rotated_and_never_leaked(
    kubectl: Kubectl, control_plane: ControlPlane, simulator: SimulatorHandle, namespace: str, tmp_path: Path
) -> None:
    admin = simulator.admin
    world = seed_world(admin, namespace)
    version = seed_gallery_version(admin, world)
    log = tmp_path / "operator.log"
    own = replica(control_plane, simulator, namespace, log)
    try:
        kubectl.apply(
            pool(
                world,
                version,
                dedicated=0,
                containerConfiguration={
                    "type": "DockerCompatible",
                    "containerRegistries": [
                        {
                            "registryServer": "render.azurecr.io",
                            "username": "puller",
                            "password": {"secretRef": {"name": "acr-pull", "key": "password"}},
                        }
                    ],
                },
                userAccounts=[
                    {"name": "render", "password": {"secretRef": {"name": "acr-pull", "key": "render"}}}
                ],
            )
        )
        obj = wait_condition(kubectl, "batchpool", namespace, "cfg", "Stalled", "SecretNotFound")
        message = next(c for c in obj["status"]["conditions"] if c["type"] == "Stalled")["message"]
        assert "acr-pull" in message
        assert admin.resource(world.pool_id("cfg")) is None  # nothing sent to Azure
        assert writes(admin, world) == Counter()

        kubectl.apply(secret(world, CANARY_1))
        wait_ready_at(kubectl, world, "cfg", 1)
        digests = azure_pool(admin, world, "cfg")["simSecretSha256"]
        registry = "deploymentConfiguration.virtualMachineConfiguration.containerConfiguration"
        assert digests[f"{registry}.containerRegistries[0].password"] == sha(CANARY_1)
        assert digests["userAccounts[0].password"] == sha(CANARY_1 + "-user")

        admin.reset_requests()
        kubectl.apply(secret(world, CANARY_2))
        processes.wait_until(
            lambda: (
                azure_pool(admin, world, "cfg")["simSecretSha256"][
                    f"{registry}.containerRegistries[0].password"
                ]
                == sha(CANARY_2)
            ),
            90,
            "the rotated Secret to reach Azure",
        )
        assert writes(admin, world) == Counter({"Pool_Update": 1})
        wait_condition(kubectl, "batchpool", namespace, "cfg", "Ready", "Succeeded")
        with urllib.request.urlopen(f"http://127.0.0.1:{own.metrics_port}/metrics", timeout=5) as resp:
            metrics = resp.read().decode()
    finally:
        own.operator.stop()
    everything = "\n".join(
        [
            log.read_text(),
            kubectl.run("get", "events", "-n", namespace, "-o", "json").stdout,
            kubectl.run("get", "batchpools", "-n", namespace, "-o", "json").stdout,
            metrics,
            json.dumps(admin.requests()),
            json.dumps(admin.resource(world.pool_id("cfg"))),
        ]
    )
    assert "SecretNotFound" in everything  # the failure was reported ...
    for canary in (CANARY_1, CANARY_2):
        assert canary not in everything  # ... and no secret value anywhere
