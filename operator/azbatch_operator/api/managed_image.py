"""``ManagedImage`` (azbatch.io/v1alpha1): spec and status, mirroring crds/ (DESIGN.md "API")."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from azbatch_operator.api.common import (
    ApiModel,
    DeletionPolicy,
    ObjectRef,
    Operation,
    StatusCondition,
    StatusModel,
)

OsType = Literal["Linux", "Windows"]
OsState = Literal["Generalized", "Specialized"]
HyperVGeneration = Literal["V1", "V2"]


class OsDiskSnapshot(ApiModel):
    snapshot_id: str
    os_type: OsType
    os_state: OsState = "Generalized"


class DataDiskSnapshot(ApiModel):
    lun: int = Field(ge=0, le=63)
    snapshot_id: str


class SnapshotSource(ApiModel):
    os_disk: OsDiskSnapshot
    data_disks: tuple[DataDiskSnapshot, ...] = ()

    @model_validator(mode="after")
    def _unique_luns(self) -> SnapshotSource:
        luns = [d.lun for d in self.data_disks]
        if len(luns) != len(set(luns)):
            raise ValueError(f"source.snapshots.dataDisks: duplicate lun in {sorted(luns)}")
        return self


class VirtualMachineSource(ApiModel):
    """A prepared VM: the operator preflights it (seed S1) and snapshots its disks (S2)."""

    id: str


class ImageSource(ApiModel):
    snapshots: SnapshotSource | None = None
    virtual_machine: VirtualMachineSource | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> ImageSource:
        if (self.snapshots is None) == (self.virtual_machine is None):
            raise ValueError("source: set exactly one of snapshots or virtualMachine")
        return self


#: The gallery image definition's ``SecurityType`` feature (what trusted launch / confidential VM
#: pools need of their image; Azure's values).
GallerySecurityType = Literal[
    "Standard",
    "TrustedLaunchSupported",
    "TrustedLaunch",
    "TrustedLaunchAndConfidentialVmSupported",
    "ConfidentialVmSupported",
    "ConfidentialVM",
]


class GallerySpec(ApiModel):
    gallery_id: str
    image_definition: str
    version: str = Field(pattern=r"^\d+\.\d+\.\d+$")
    replica_count: int = Field(default=1, ge=1, le=100)
    target_regions: tuple[str, ...] = ()
    security_type: GallerySecurityType | None = None

    @field_validator("version")
    @classmethod
    def _int32_parts(cls, version: str) -> str:
        """Azure reads each part of a gallery image version as a 32-bit integer; the CRD's pattern
        lets any digit string through, so refuse here, before anything is created."""
        if any(int(part) > 2**31 - 1 for part in version.split(".")):
            raise ValueError(f"each part of gallery.version must be at most {2**31 - 1}, got {version}")
        return version

    def effective_target_regions(self, location: str) -> tuple[str, ...]:
        """``targetRegions`` defaults to ``[spec.location]``; the image's own region is always included
        because a gallery version must be replicated to its source region."""
        regions = self.target_regions or (location,)
        if normalize_location(location) not in {normalize_location(r) for r in regions}:
            regions = (location, *regions)
        return regions


class ManagedImageSpec(ApiModel):
    subscription_id: str | None = None
    resource_group: str
    location: str
    image_name: str | None = None
    hyper_v_generation: HyperVGeneration = "V1"
    source: ImageSource
    gallery: GallerySpec | None = None
    deletion_policy: DeletionPolicy = "Delete"

    def subscription(self, default: str | None) -> str:
        """``spec.subscriptionId`` or the operator's ``AZURE_SUBSCRIPTION_ID``."""
        sub = self.subscription_id or default
        if not sub:
            raise ValueError("spec.subscriptionId is not set and the operator has no AZURE_SUBSCRIPTION_ID")
        return sub


class ManagedImageStatus(StatusModel):
    """What the operator writes to a ManagedImage's status: each field optional (None removes it)."""

    image_id: str | None = None
    snapshot_ids: tuple[str, ...] | None = None
    gallery_image_version_id: str | None = None
    target_regions: tuple[str, ...] | None = None
    provisioning_state: str | None = None
    operations: tuple[Operation, ...] | None = None
    used_by: tuple[ObjectRef, ...] | None = None
    observed_generation: int | None = None
    conditions: tuple[StatusCondition, ...] | None = None


def normalize_location(location: str) -> str:
    """ARM accepts ``West Europe`` and ``westeurope`` for the same region; compare the short form."""
    return location.replace(" ", "").lower()
