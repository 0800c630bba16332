"""Preflight of a ManagedImage source: each rule fails alone, before anything is written to Azure."""

from __future__ import annotations

from typing import Any

import pytest

from azbatch_operator.devtools.stack import Operator
from tests.e2e.conftest import SimulatorHandle, World, seed_world, wait_condition
from tests.e2e.managed_image_support import (
    IMAGES,
    SNAPSHOTS,
    arm_requests_for,
    condition,
    event_reasons,
    image_manifest,
    in_rg,
    snapshot_source,
    vm_source,
)
from tests.kube import Kubectl

# (rule id, VM overrides, words the message must contain: what is wrong and what to do)
VM_RULES: list[tuple[str, dict[str, Any], tuple[str, ...]]] = [
    (
        "vm-managed-disks-only",
        {"osDisk": {"name": "os", "sizeGB": 64, "osType": "Linux", "managed": False}},
        ("unmanaged", "managed disks only"),
    ),
    ("vm-no-extensions", {"extensions": ["CustomScript"]}, ("CustomScript", "az vm extension delete")),
    (
        "vm-os-disk-not-encrypted",
        {"osDisk": {"name": "os", "sizeGB": 64, "osType": "Linux", "encrypted": True}},
        ("Encryption", "disable encryption"),
    ),
    (
        "vm-first-party-image",
        {"plan": {"name": "tier1", "publisher": "contoso", "product": "render-os"}},
        ("contoso/render-os/tier1", "first-party"),
    ),
    ("vm-location", {"location": "eastus"}, ("eastus", "spec.location")),
]


@pytest.mark.parametrize(("rule", "vm", "words"), VM_RULES, ids=[r[0] for r in VM_RULES])
def test_vm_preflight_rule_fails_alone(
    kubectl: Kubectl,
    operator: Operator,
    simulator: SimulatorHandle,
    namespace: str,
    rule: str,
    vm: dict[str, Any],
    words: tuple[str, ...],
) -> None:
    world = seed_world(simulator.admin, namespace, vm=vm)
    snapshots_before = len(in_rg(simulator.admin, world, SNAPSHOTS))
    kubectl.apply(image_manifest(world, "pf", vm_source(world)))
    obj = wait_condition(
        kubectl, "managedimage", namespace, "pf", "Stalled", reason="PreflightFailed", timeout=60
    )

    message = condition(obj, "Stalled")["message"]
    assert message.count("[") == 1, message  # exactly one rule reported
    assert f"[{rule}]" in message
    for word in words:
        assert word in message, message
    ready = condition(obj, "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "PreflightFailed")
    # Before touching anything: no snapshot, no image, not a single write to Azure.
    assert len(in_rg(simulator.admin, world, SNAPSHOTS)) == snapshots_before
    assert in_rg(simulator.admin, world, IMAGES) == []
    assert all(r["method"] == "GET" for r in arm_requests_for(simulator.admin, world))
    assert ("Warning", "PreflightFailed") in event_reasons(kubectl, namespace, "pf")


def test_missing_vm_is_preflight_failed(
    kubectl: Kubectl, operator: Operator, simulator: SimulatorHandle, world: World
) -> None:
    missing = world.vm_id.replace("prep-vm", "no-such-vm")
    kubectl.apply(image_manifest(world, "novm", vm_source(world, missing)))
    obj = wait_condition(
        kubectl, "managedimage", world.namespace, "novm", "Stalled", reason="PreflightFailed", timeout=60
    )
    message = condition(obj, "Stalled")["message"]
    assert "[vm-not-found]" in message
    assert "no-such-vm" in message
    assert in_rg(simulator.admin, world, IMAGES) == []


def test_missing_or_misplaced_snapshot_is_preflight_failed(
    kubectl: Kubectl, operator: Operator, simulator: SimulatorHandle, world: World
) -> None:
    source = snapshot_source(world)
    source["snapshots"]["dataDisks"][0]["snapshotId"] = world.snapshot_id("gone-snap")
    kubectl.apply(image_manifest(world, "nosnap", source))
    obj = wait_condition(
        kubectl, "managedimage", world.namespace, "nosnap", "Stalled", reason="PreflightFailed", timeout=60
    )
    message = condition(obj, "Stalled")["message"]
    assert "[snapshot-not-found]" in message
    assert "gone-snap" in message
    assert "lun 0" in message
    assert in_rg(simulator.admin, world, IMAGES) == []

    # A snapshot outside spec.location is refused the same way, naming both regions.
    kubectl.apply(image_manifest(world, "faraway", snapshot_source(world, data=False), location="eastus"))
    obj = wait_condition(
        kubectl, "managedimage", world.namespace, "faraway", "Stalled", reason="PreflightFailed", timeout=60
    )
    message = condition(obj, "Stalled")["message"]
    assert "[snapshot-location]" in message
    assert "eastus" in message
    assert "westeurope" in message
