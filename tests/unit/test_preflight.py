from __future__ import annotations

from typing import Any

import pytest

from azbatch_operator.api.managed_image import SnapshotSource
from azbatch_operator.reconcile import preflight
from tests.unit.builders import RG, disk_id, vm

pytestmark = pytest.mark.unit


def rules(violations: tuple[preflight.Violation, ...]) -> set[str]:
    return {v.rule for v in violations}


def test_clean_vm_passes() -> None:
    assert preflight.preflight_vm(vm(), "West Europe") == ()


def test_missing_vm() -> None:
    (v,) = preflight.preflight_vm(None, "westeurope", "/subscriptions/s/x")
    assert v.rule == preflight.RULE_VM_NOT_FOUND
    assert "/subscriptions/s/x" in v.message


def test_every_rule_reports_with_names() -> None:
    bad = vm(
        location="eastus",
        plan={"publisher": "acme", "product": "fancy-os", "name": "gold"},
        resources=[
            {"type": "Microsoft.Compute/virtualMachines/extensions", "name": "prep-vm/CustomScript"},
            {"type": "Microsoft.Compute/virtualMachines/extensions", "name": "AADLogin"},
            {"type": "Microsoft.Something/else", "name": "ignored"},
        ],
    )
    props: dict[str, Any] = bad["properties"]
    props["storageProfile"]["osDisk"]["encryptionSettings"] = {"enabled": True}
    props["storageProfile"]["dataDisks"].append({"lun": 1, "vhd": {"uri": "https://x/y.vhd"}})
    found = {v.rule: v.message for v in preflight.preflight_vm(bad, "westeurope")}
    assert set(found) == {
        preflight.RULE_MANAGED_DISKS,
        preflight.RULE_NO_EXTENSIONS,
        preflight.RULE_OS_DISK_NOT_ENCRYPTED,
        preflight.RULE_FIRST_PARTY_IMAGE,
        preflight.RULE_VM_LOCATION,
    }
    assert "AADLogin, CustomScript" in found[preflight.RULE_NO_EXTENSIONS]
    assert "ignored" not in found[preflight.RULE_NO_EXTENSIONS]
    assert "lun 1" in found[preflight.RULE_MANAGED_DISKS]
    assert "acme/fancy-os/gold" in found[preflight.RULE_FIRST_PARTY_IMAGE]
    assert "eastus" in found[preflight.RULE_VM_LOCATION]
    summary = preflight.summarize(preflight.preflight_vm(bad, "westeurope"))
    assert "[vm-no-extensions]" in summary


def test_encryption_at_host_is_reported() -> None:
    bad = vm()
    bad["properties"]["securityProfile"] = {"encryptionAtHost": True}
    assert rules(preflight.preflight_vm(bad, "westeurope")) == {preflight.RULE_OS_DISK_NOT_ENCRYPTED}


def test_unmanaged_os_disk() -> None:
    bad = vm()
    bad["properties"]["storageProfile"]["osDisk"] = {"name": "os", "vhd": {"uri": "https://x"}}
    assert rules(preflight.preflight_vm(bad, "westeurope")) == {preflight.RULE_MANAGED_DISKS}


def test_vm_disks_lists_os_then_data_by_lun() -> None:
    v = vm()
    v["properties"]["storageProfile"]["dataDisks"].insert(0, {"lun": 2, "managedDisk": {"id": disk_id("d2")}})
    assert preflight.vm_disks(v) == (
        (None, disk_id("prep-vm-os")),
        (0, disk_id("prep-vm-data0")),
        (2, disk_id("d2")),
    )


SNAP_OS = f"{RG}/providers/Microsoft.Compute/snapshots/os-snap"
SNAP_DATA = f"{RG}/providers/Microsoft.Compute/snapshots/data-snap"
SOURCE = SnapshotSource.model_validate(
    {"osDisk": {"snapshotId": SNAP_OS, "osType": "Linux"}, "dataDisks": [{"lun": 0, "snapshotId": SNAP_DATA}]}
)


def snap(
    location: str = "westeurope", os_type: str | None = "Linux", state: str = "Succeeded"
) -> dict[str, Any]:
    return {"location": location, "properties": {"osType": os_type, "provisioningState": state}}


def test_snapshots_ok() -> None:
    observed = {SNAP_OS.lower(): snap(), SNAP_DATA.lower(): snap(os_type=None)}
    assert preflight.preflight_snapshots(SOURCE, observed, "westeurope") == ()


def test_snapshot_problems() -> None:
    observed = {SNAP_OS.lower(): snap(location="eastus", os_type="Windows")}
    found = rules(preflight.preflight_snapshots(SOURCE, observed, "westeurope"))
    assert found == {
        preflight.RULE_SNAPSHOT_LOCATION,
        preflight.RULE_SNAPSHOT_OS_TYPE,
        preflight.RULE_SNAPSHOT_NOT_FOUND,
    }
    observed = {SNAP_OS.lower(): snap(state="Failed"), SNAP_DATA.lower(): snap()}
    assert rules(preflight.preflight_snapshots(SOURCE, observed, "westeurope")) == {
        preflight.RULE_SNAPSHOT_FAILED
    }
