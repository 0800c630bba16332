"""Azure errors on the ManagedImage path: 403, throttling and 5xx storms, Azure-side failures."""

from __future__ import annotations

from azbatch_operator.devtools.stack import Operator
from tests.e2e.conftest import TENANT, SimulatorHandle, World, wait_condition
from tests.e2e.managed_image_support import (
    IMAGES,
    VERSIONS,
    condition,
    event_reasons,
    image_manifest,
    in_rg,
    snapshot_source,
    vm_source,
)
from tests.kube import Kubectl

OTHER_SUBSCRIPTION = "00000000-0000-0000-0000-0000000000a3"
OPERATOR_PRINCIPAL = "22222222-2222-2222-2222-222222222222"


def test_access_denied_names_the_resource_and_heals_after_grant(
    kubectl: Kubectl, operator: Operator, simulator: SimulatorHandle, namespace: str
) -> None:
    """The identity can read the snapshots but not write the image (seed S10)."""
    rg = f"ro-{namespace[-20:].strip('-')}"
    rg_scope = f"/subscriptions/{OTHER_SUBSCRIPTION}/resourceGroups/{rg}"
    simulator.admin.seed(
        {
            "subscriptions": [
                {
                    "id": OTHER_SUBSCRIPTION,
                    "tenant": TENANT,
                    "roleAssignments": [
                        {"principal": OPERATOR_PRINCIPAL, "scope": rg_scope, "role": "Reader"}
                    ],
                    "resourceGroups": [
                        {
                            "name": rg,
                            "location": "westeurope",
                            "snapshots": [{"name": "os-snap", "osType": "Linux"}],
                        }
                    ],
                }
            ]
        }
    )
    world = World(namespace, OTHER_SUBSCRIPTION, rg, rg, "none", "none")
    manifest = image_manifest(
        world, "denied", snapshot_source(world, data=False), subscriptionId=OTHER_SUBSCRIPTION
    )
    kubectl.apply(manifest)
    obj = wait_condition(
        kubectl, "managedimage", namespace, "denied", "Stalled", reason="AccessDenied", timeout=60
    )
    message = condition(obj, "Stalled")["message"]
    assert f"{rg_scope}/providers/Microsoft.Compute/images/denied".lower() in message.lower(), message
    assert "grant the operator's identity access" in message
    assert ("Warning", "AccessDenied") in event_reasons(kubectl, namespace, "denied")
    assert in_rg(simulator.admin, world, IMAGES) == []

    # A human grants the role: the operator recovers on its own (re-checks on the slow timer).
    simulator.admin.seed(
        {
            "subscriptions": [
                {
                    "id": OTHER_SUBSCRIPTION,
                    "roleAssignments": [
                        {"principal": OPERATOR_PRINCIPAL, "scope": rg_scope, "role": "Contributor"}
                    ],
                }
            ]
        }
    )
    wait_condition(kubectl, "managedimage", namespace, "denied", "Ready", reason="Succeeded", timeout=90)
    assert len(in_rg(simulator.admin, world, IMAGES)) == 1


def test_throttling_and_server_error_storms_converge(
    kubectl: Kubectl, operator: Operator, simulator: SimulatorHandle, world: World
) -> None:
    ns = world.namespace
    rg_path = f"/resourceGroups/{world.images_rg}/"
    admin = simulator.admin
    # More consecutive failures than the SDK's own retries (1 + 3 attempts per call, two snapshot
    # GETs per pass), so the operator itself sees each kind and must back off and come back.
    admin.faults(
        {
            "method": "GET",
            "pathRegex": f"(?i){rg_path}.*/snapshots/",
            "status": 429,
            "count": 20,
            "retryAfter": 1,
        },
        {"method": "PUT", "pathRegex": f"(?i){rg_path}.*/images/", "status": 503, "count": 8},
        {"method": "PUT", "pathRegex": f"(?i){rg_path}.*/versions/", "drop": True, "count": 8},
        {"method": "GET", "pathRegex": f"(?i){rg_path}.*/versions/", "status": 500, "count": 8},
    )
    try:
        kubectl.apply(
            image_manifest(
                world, "storm", vm_source(world), gallery={"imageDefinition": "render", "version": "1.0.0"}
            )
        )
        obj = wait_condition(kubectl, "managedimage", ns, "storm", "Ready", reason="Succeeded", timeout=120)
    finally:
        admin.clear_faults()
    reasons = event_reasons(kubectl, ns, "storm")
    assert ("Normal", "Throttled") in reasons, reasons  # 429: Reconciling/Throttled, never Stalled
    assert ("Normal", "AzureError") in reasons, reasons  # 5xx / dropped connections: retried
    assert ("Warning", "AzureError") not in reasons, reasons
    assert condition(obj, "Stalled")["status"] == "False"
    # Retried writes adopted what existed: still exactly one of each.
    assert len(in_rg(admin, world, IMAGES)) == 1
    assert len(in_rg(admin, world, VERSIONS)) == 1
    assert len(obj["status"]["snapshotIds"]) == 2


def test_azure_side_failure_is_stalled_with_azure_code(
    kubectl: Kubectl, operator: Operator, simulator: SimulatorHandle, world: World
) -> None:
    ns = world.namespace
    kubectl.apply(image_manifest(world, "broken", snapshot_source(world)))
    obj = wait_condition(kubectl, "managedimage", ns, "broken", "Ready", reason="Succeeded", timeout=60)
    image_id = obj["status"]["imageId"]
    # Azure reports the image as Failed (e.g. a platform error after creation).
    simulator.admin.patch_resource(
        image_id,
        {
            "provisioningState": "Failed",
            "error": {"code": "InternalDiskManagementError", "message": "disk lost"},
        },
    )
    # Any spec change makes the operator look at once (deletionPolicy is mutable).
    kubectl.run(
        "patch", "managedimage/broken", "-n", ns, "--type=merge", "-p", '{"spec":{"deletionPolicy":"Orphan"}}'
    )
    obj = wait_condition(kubectl, "managedimage", ns, "broken", "Stalled", reason="AzureError", timeout=60)
    message = condition(obj, "Stalled")["message"]
    assert image_id.lower() in message.lower()
    assert "InternalDiskManagementError: disk lost" in message  # Azure's code and message
    assert "delete it in Azure" in message
