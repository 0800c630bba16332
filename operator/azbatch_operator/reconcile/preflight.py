"""Preflight of an image source (seed S1), before any snapshot is taken.

Input is the VM (or snapshot) as ARM returns it (a plain dict, ``properties`` included; VM
extensions in ``resources[]`` as returned by ``GET ...?$expand=...`` or listed separately).
Output is a tuple of :class:`Violation`: a stable ``rule`` id for tests, dashboards and docs, and an
actionable message.  An empty tuple means the source is fit to image.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from azbatch_operator.api.managed_image import SnapshotSource, normalize_location
from azbatch_operator.reconcile import arm_ids

RULE_VM_NOT_FOUND = "vm-not-found"
RULE_MANAGED_DISKS = "vm-managed-disks-only"
RULE_NO_EXTENSIONS = "vm-no-extensions"
RULE_OS_DISK_NOT_ENCRYPTED = "vm-os-disk-not-encrypted"
RULE_FIRST_PARTY_IMAGE = "vm-first-party-image"
RULE_VM_LOCATION = "vm-location"
RULE_SNAPSHOT_NOT_FOUND = "snapshot-not-found"
RULE_SNAPSHOT_LOCATION = "snapshot-location"
RULE_SNAPSHOT_OS_TYPE = "snapshot-os-type"
RULE_SNAPSHOT_FAILED = "snapshot-failed"


@dataclass(frozen=True)
class Violation:
    rule: str
    message: str


def _get(obj: Mapping[str, Any] | None, *path: str) -> Any:
    cur: Any = obj
    for key in path:
        if not isinstance(cur, Mapping):
            return None
        cur = cur.get(key)
    return cur


def _same_location(a: str | None, b: str) -> bool:
    return a is not None and normalize_location(a) == normalize_location(b)


def preflight_vm(vm: Mapping[str, Any] | None, location: str, vm_id: str = "") -> tuple[Violation, ...]:
    """Check a prepared VM against the seed document's rules (S1); ``location`` is ``spec.location``."""
    if vm is None:
        return (Violation(RULE_VM_NOT_FOUND, f"virtual machine {vm_id or '(unknown)'} was not found"),)
    name = vm.get("name") or vm_id
    out: list[Violation] = []
    os_disk = _get(vm, "properties", "storageProfile", "osDisk") or {}
    data_disks = _get(vm, "properties", "storageProfile", "dataDisks") or []

    unmanaged = []
    if not _get(os_disk, "managedDisk") or _get(os_disk, "vhd"):
        unmanaged.append(f"OS disk {os_disk.get('name') or ''}".strip())
    for disk in data_disks:
        if not _get(disk, "managedDisk") or _get(disk, "vhd"):
            unmanaged.append(f"data disk lun {disk.get('lun')}")
    if unmanaged:
        out.append(
            Violation(
                RULE_MANAGED_DISKS,
                f"VM {name} uses unmanaged (VHD) disks: {', '.join(unmanaged)}; "
                "the image must be built from a VM with managed disks only — convert it "
                "(az vm convert) or prepare a new VM with managed disks",
            )
        )

    extensions = sorted(_extension_names(vm.get("resources") or []))
    if extensions:
        out.append(
            Violation(
                RULE_NO_EXTENSIONS,
                f"VM {name} has VM extensions installed ({', '.join(extensions)}); images for Batch must "
                "come from a VM without extensions — remove them (az vm extension delete) "
                "or prepare a new VM",
            )
        )

    encrypted = []
    if _get(os_disk, "encryptionSettings", "enabled") is True:
        encrypted.append("Azure Disk Encryption is enabled on the OS disk")
    if _get(vm, "properties", "securityProfile", "encryptionAtHost") is True:
        encrypted.append("encryption at host is enabled")
    if encrypted:
        out.append(
            Violation(
                RULE_OS_DISK_NOT_ENCRYPTED,
                f"VM {name}: {'; '.join(encrypted)}; the OS disk must not be encrypted for a Batch "
                "custom image — disable encryption or prepare a new VM",
            )
        )

    plan = vm.get("plan")
    if plan:
        product = "/".join(str(plan.get(k)) for k in ("publisher", "product", "name") if plan.get(k))
        out.append(
            Violation(
                RULE_FIRST_PARTY_IMAGE,
                f"VM {name} was created from a Marketplace image with a purchase plan ({product}); Batch "
                "custom images must come from a first-party image without a plan — prepare a new VM "
                "from a first-party Marketplace image",
            )
        )

    vm_location = vm.get("location")
    if not _same_location(vm_location, location):
        out.append(
            Violation(
                RULE_VM_LOCATION,
                f"VM {name} is in {vm_location or 'an unknown region'} but spec.location is {location}; "
                "use a VM in the same region or change spec.location",
            )
        )
    return tuple(out)


def _extension_names(resources: Iterable[Any]) -> Iterable[str]:
    for res in resources:
        if isinstance(res, Mapping) and "extensions" in str(res.get("type", "")).lower():
            name = str(res.get("name") or res.get("id") or "?")
            yield name.rsplit("/", 1)[-1]


def vm_disks(vm: Mapping[str, Any]) -> tuple[tuple[int | None, str], ...]:
    """``(lun, managed disk id)`` for the OS disk (lun None) then data disks by lun."""
    out: list[tuple[int | None, str]] = []
    os_id = _get(vm, "properties", "storageProfile", "osDisk", "managedDisk", "id")
    if os_id:
        out.append((None, str(os_id)))
    data = _get(vm, "properties", "storageProfile", "dataDisks") or []
    for disk in sorted(data, key=lambda d: int(d.get("lun", 0))):
        disk_id = _get(disk, "managedDisk", "id")
        if disk_id:
            out.append((int(disk.get("lun", 0)), str(disk_id)))
    return tuple(out)


def vm_os_type(vm: Mapping[str, Any]) -> str:
    return str(_get(vm, "properties", "storageProfile", "osDisk", "osType") or "Linux")


def preflight_snapshots(
    source: SnapshotSource, observed: Mapping[str, Mapping[str, Any] | None], location: str
) -> tuple[Violation, ...]:
    """User-supplied snapshots: each must exist, sit in ``spec.location``, and the OS one must match
    ``osType``.  ``observed`` maps lower-cased snapshot id -> ARM dict (None when GET said 404)."""
    out: list[Violation] = []
    wanted: list[tuple[str, str, str | None]] = [
        ("OS disk", source.os_disk.snapshot_id, source.os_disk.os_type)
    ]
    wanted += [(f"data disk lun {d.lun}", d.snapshot_id, None) for d in source.data_disks]
    for label, snap_id, os_type in wanted:
        snap = observed.get(snap_id.lower())
        parsed = arm_ids.try_parse(snap_id)
        name = parsed.name if parsed else snap_id
        if snap is None:
            out.append(
                Violation(RULE_SNAPSHOT_NOT_FOUND, f"{label} snapshot {snap_id} was not found; check the id")
            )
            continue
        if str(_get(snap, "properties", "provisioningState") or "").lower() == "failed":
            out.append(
                Violation(RULE_SNAPSHOT_FAILED, f"{label} snapshot {name} is in provisioningState Failed")
            )
        if not _same_location(snap.get("location"), location):
            out.append(
                Violation(
                    RULE_SNAPSHOT_LOCATION,
                    f"{label} snapshot {name} is in {snap.get('location')} but spec.location is {location}; "
                    "copy the snapshot to that region or change spec.location",
                )
            )
        actual_os = _get(snap, "properties", "osType")
        if os_type is not None and actual_os and str(actual_os).lower() != os_type.lower():
            out.append(
                Violation(
                    RULE_SNAPSHOT_OS_TYPE,
                    f"OS disk snapshot {name} has osType {actual_os} but spec says {os_type}",
                )
            )
    return tuple(out)


def summarize(violations: Iterable[Violation]) -> str:
    """One condition message listing every violation with its rule id."""
    return "; ".join(f"[{v.rule}] {v.message}" for v in violations)
