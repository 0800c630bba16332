"""ManagedImage: the next action towards snapshots -> managed image -> gallery image version.

Contract::

    targets = image_targets(meta, spec, settings)          # ids the shell must GET
    observed = ObservedImage(vm=..., snapshots={id.lower(): arm_dict | None}, image=..., ...)
    plan = plan_image(meta, spec, status, observed, now, settings)

Order: (VM source) preflight -> snapshots -> image -> gallery definition -> gallery version -> Ready.
Look before you write: a create is planned only when the observed state lacks the resource; a
resource still Creating/Updating means Wait; Failed means Stall AzureError with Azure's error.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from azbatch_operator.api.managed_image import ManagedImageSpec, normalize_location
from azbatch_operator.reconcile import arm_ids, conditions, lro, names, ownership, polling, preflight
from azbatch_operator.reconcile.conditions import Reason
from azbatch_operator.reconcile.plan import (
    Action,
    CreateGalleryVersion,
    CreateImage,
    CreateSnapshot,
    Done,
    EnsureGalleryDefinition,
    Plan,
    UpdateGalleryReplication,
    Wait,
    stall_plan,
)
from azbatch_operator.settings import Settings

GALLERY_PUBLISHER = "azbatch-operator"


@dataclass(frozen=True)
class ImageTargets:
    """Every Azure id the ManagedImage planner looks at (the shell GETs these)."""

    subscription: str
    resource_group: str
    location: str
    image_id: str
    vm_id: str | None
    source_snapshot_ids: tuple[str, ...]
    gallery_id: str | None
    gallery_definition_id: str | None
    gallery_version_id: str | None

    def snapshot_id(self, meta: names.ObjectMeta, lun: int | None) -> str:
        """Id of the snapshot the operator takes of a VM disk (``lun`` None = OS disk)."""
        return str(
            arm_ids.resource_id(
                self.subscription, self.resource_group, arm_ids.SNAPSHOT, names.snapshot_name(meta, lun)
            )
        )

    def vm_snapshot_ids(self, meta: names.ObjectMeta, vm: Mapping[str, Any] | None) -> list[str]:
        """Ids of the snapshots the operator takes of the VM's disks: the OS disk's, then one per
        data disk the VM shows (by LUN)."""
        disks = ((vm or {}).get("properties") or {}).get("storageProfile", {}).get("dataDisks") or []
        luns = (int(d["lun"]) for d in disks if d.get("lun") is not None)
        return [self.snapshot_id(meta, None), *(self.snapshot_id(meta, lun) for lun in luns)]

    def snapshots_to_read(self, meta: names.ObjectMeta, vm: Mapping[str, Any] | None) -> list[str]:
        """The snapshots to look at while no image exists: one per disk of the VM once it is read
        (VM source), else the user's (snapshot source; none while the VM is missing)."""
        return self.vm_snapshot_ids(meta, vm) if vm is not None else list(self.source_snapshot_ids)

    @property
    def gallery_ids(self) -> tuple[str, str, str] | None:
        """Gallery, image definition and version ids (read once an image exists); None without a
        gallery."""
        if self.gallery_id and self.gallery_definition_id and self.gallery_version_id:
            return self.gallery_id, self.gallery_definition_id, self.gallery_version_id
        return None


@dataclass(frozen=True)
class ObservedImage:
    """What GET returned (None = 404).  ``snapshots`` is keyed by lower-cased snapshot id and holds both
    operator-taken snapshots (VM source) and user-supplied ones (snapshot source)."""

    vm: Mapping[str, Any] | None = None
    snapshots: Mapping[str, Mapping[str, Any] | None] = field(default_factory=dict)
    image: Mapping[str, Any] | None = None
    gallery: Mapping[str, Any] | None = None
    gallery_definition: Mapping[str, Any] | None = None
    gallery_version: Mapping[str, Any] | None = None


REPLICATION_SAFETY = {"allowDeletionOfReplicatedLocations": True}


def image_targets(meta: names.ObjectMeta, spec: ManagedImageSpec, settings: Settings) -> ImageTargets:
    """Raises ValueError (an InvalidSpec) when the subscription is unknown or an id does not parse."""
    sub = spec.subscription(settings.default_subscription_id)
    image = arm_ids.resource_id(
        sub, spec.resource_group, arm_ids.MANAGED_IMAGE, names.image_name(spec.image_name, meta.name)
    )
    snaps = spec.source.snapshots
    source_ids = (
        () if snaps is None else (snaps.os_disk.snapshot_id, *(d.snapshot_id for d in snaps.data_disks))
    )
    gallery_id = definition_id = version_id = None
    if spec.gallery is not None:
        gallery = arm_ids.parse(spec.gallery.gallery_id)
        definition = gallery.child("images", spec.gallery.image_definition)
        gallery_id, definition_id = str(gallery), str(definition)
        version_id = str(definition.child("versions", spec.gallery.version))
    vm_id = spec.source.virtual_machine.id if spec.source.virtual_machine else None
    return ImageTargets(
        sub,
        spec.resource_group,
        spec.location,
        str(image),
        vm_id,
        source_ids,
        gallery_id,
        definition_id,
        version_id,
    )


def validate_image_spec(spec: ManagedImageSpec) -> list[str]:
    """Problems the CRD schema cannot express; each is a line of an InvalidSpec message."""
    problems = []
    if spec.image_name and not names.is_valid_compute_name(spec.image_name):
        problems.append(
            f"spec.imageName {spec.image_name!r} is not a valid Azure image name "
            "(1-80 of A-Z a-z 0-9 _ . -, starting with a letter or digit)"
        )
    if spec.source.virtual_machine and not arm_ids.is_virtual_machine_id(spec.source.virtual_machine.id):
        problems.append(f"spec.source.virtualMachine.id {spec.source.virtual_machine.id!r} is not a VM id")
    if spec.source.snapshots:
        for sid in (
            spec.source.snapshots.os_disk.snapshot_id,
            *(d.snapshot_id for d in spec.source.snapshots.data_disks),
        ):
            if not arm_ids.is_snapshot_id(sid):
                problems.append(f"{sid!r} is not a Microsoft.Compute/snapshots id")
    if spec.gallery:
        if not arm_ids.is_gallery_id(spec.gallery.gallery_id):
            problems.append(f"spec.gallery.galleryId {spec.gallery.gallery_id!r} is not a gallery id")
        if not names.is_valid_gallery_image_name(spec.gallery.image_definition):
            problems.append(
                f"spec.gallery.imageDefinition {spec.gallery.image_definition!r} is not a valid name"
            )
        if not names.is_valid_gallery_version(spec.gallery.version):
            problems.append(
                f"spec.gallery.version {spec.gallery.version!r} must be MAJOR.MINOR.PATCH (32-bit ints)"
            )
    return problems


class _Planner:
    """One pass over the steps; each step returns a Plan to stop at, or None to go on."""

    def __init__(
        self,
        meta: names.ObjectMeta,
        spec: ManagedImageSpec,
        status: Mapping[str, Any],
        observed: ObservedImage,
        targets: ImageTargets,
        now: datetime,
        settings: Settings,
    ) -> None:
        self.meta, self.spec, self.observed, self.targets = meta, spec, observed, targets
        self.now, self.settings = now, settings
        self.ops = lro.operations(status)
        self.status: dict[str, Any] = {"observedGeneration": meta.generation}
        self.tags = names.owner_tags(meta)

    # -- helpers ---------------------------------------------------------------------------------
    def _progress(
        self, action: Action, reason: Reason, message: str, op: lro.Operation | None = None
    ) -> Plan:
        kept = [op] if op else [o for o in self.ops if isinstance(action, Wait)]
        return Plan(
            action,
            tuple(conditions.progressing(self.meta.generation, self.now, reason, message)),
            {**self.status, "provisioningState": "Creating", "operations": [o.to_status() for o in kept]},
            polling.fast(self.settings),
        )

    def _stall(self, reason: Reason, message: str) -> Plan:
        return stall_plan(
            self.meta.generation, self.now, reason, message, {**self.status, "provisioningState": "Failed"}
        )

    def _step(
        self,
        resource: Mapping[str, Any] | None,
        resource_id: str,
        label: str,
        create: Action,
        reason: Reason,
    ) -> Plan | None:
        state = lro.state_of(resource)
        if state is lro.State.SUCCEEDED:
            return None
        if state is lro.State.ABSENT:
            if lro.recently_started(self.ops, resource_id, self.now, self.settings.create_grace_seconds):
                return self._progress(
                    Wait(polling.fast(self.settings), reason), reason, f"waiting for {label} to appear"
                )
            op = lro.Operation(type(create).__name__, resource_id, self.now)
            return self._progress(create, reason, f"creating {label}", op)
        if state is lro.State.FAILED:
            assert resource is not None
            return self._stall(
                Reason.AZURE_ERROR,
                f"{label} {resource_id} failed ({lro.error_of(resource)}); delete it in Azure and the "
                "operator will create it again",
            )
        return self._progress(
            Wait(polling.fast(self.settings), reason), reason, f"waiting for {label} ({state.value})"
        )

    def _not_ours(self, resource: Mapping[str, Any] | None, label: str, resource_id: str) -> Plan | None:
        """Another object's resource (AlreadyOwned) or one made outside the operator (InvalidSpec):
        neither is used, changed or deleted; this object's own records of it are dropped."""
        if resource is None:
            return None
        owner = ownership.decide(resource.get("tags"), self.meta)
        if owner.kind is ownership.Kind.OURS:
            return None
        if owner.foreign:
            plan = stall_plan(
                self.meta.generation,
                self.now,
                Reason.ALREADY_OWNED,
                ownership.already_owned_message(
                    label,
                    resource_id,
                    owner,
                    "choose another spec.imageName (or resource group), gallery version or object name",
                ),
                {
                    **self.status,
                    "provisioningState": "Failed",
                    "imageId": None,
                    "galleryImageVersionId": None,
                },
                polling.slow(self.settings),
            )
            return plan
        return self._stall(
            Reason.INVALID_SPEC,
            f"{label} {resource_id} already exists and was created outside the operator; choose another "
            "name (a new image is a new ManagedImage) or delete the existing resource",
        )

    # -- steps -----------------------------------------------------------------------------------
    def source(self) -> tuple[Plan | None, str, str, tuple[tuple[int, str], ...]]:
        """Returns (stop, os_type, os_snapshot_id, data disks) for building the image."""
        spec, obs = self.spec, self.observed
        if spec.source.snapshots is not None:
            snaps = spec.source.snapshots
            ids = (snaps.os_disk.snapshot_id, *(d.snapshot_id for d in snaps.data_disks))
            self.status["snapshotIds"] = list(ids)
            data = tuple((d.lun, d.snapshot_id) for d in snaps.data_disks)
            lowered = {k.lower(): v for k, v in obs.snapshots.items()}
            violations = preflight.preflight_snapshots(snaps, lowered, spec.location)
            if violations:
                return (
                    self._stall(Reason.PREFLIGHT_FAILED, preflight.summarize(violations)),
                    snaps.os_disk.os_type,
                    "",
                    (),
                )
            for sid in ids:
                if lro.state_of(lowered.get(sid.lower())) is not lro.State.SUCCEEDED:
                    wait = Wait(polling.fast(self.settings), Reason.WAITING)
                    return self._progress(wait, Reason.WAITING, f"waiting for snapshot {sid}"), "", "", ()
            return None, snaps.os_disk.os_type, snaps.os_disk.snapshot_id, data

        # Virtual machine: preflight before any snapshot, then one snapshot per disk.
        vm_id = self.targets.vm_id or ""
        violations = preflight.preflight_vm(obs.vm, spec.location, vm_id)
        if violations:
            return self._stall(Reason.PREFLIGHT_FAILED, preflight.summarize(violations)), "", "", ()
        assert obs.vm is not None
        os_type = preflight.vm_os_type(obs.vm)
        disks = preflight.vm_disks(obs.vm)
        snapshot_ids = [self.targets.snapshot_id(self.meta, lun) for lun, _ in disks]
        self.status["snapshotIds"] = snapshot_ids
        lowered = {k.lower(): v for k, v in obs.snapshots.items()}
        for (lun, disk_id), snap_id in zip(disks, snapshot_ids, strict=True):
            snap = lowered.get(snap_id.lower())
            label = "OS disk snapshot" if lun is None else f"data disk lun {lun} snapshot"
            stop = self._not_ours(snap, label, snap_id)
            if stop:
                return stop, "", "", ()
            props: dict[str, Any] = {
                "creationData": {"createOption": "Copy", "sourceResourceId": disk_id},
                "incremental": False,
            }
            if lun is None:
                props |= {"osType": os_type, "hyperVGeneration": spec.hyper_v_generation}
            create = CreateSnapshot(
                snap_id, disk_id, lun, {"location": spec.location, "tags": self.tags, "properties": props}
            )
            stop = self._step(snap, snap_id, label, create, Reason.SNAPSHOTTING)
            if stop:
                return stop, "", "", ()
        data = tuple((lun, sid) for (lun, _), sid in zip(disks, snapshot_ids, strict=True) if lun is not None)
        return None, os_type, snapshot_ids[0], data

    def image(self, os_type: str, os_snapshot: str, data: tuple[tuple[int, str], ...]) -> Plan | None:
        image_id = self.targets.image_id
        stop = self._not_ours(self.observed.image, "managed image", image_id)
        if stop:
            return stop
        os_state = (
            self.spec.source.snapshots.os_disk.os_state if self.spec.source.snapshots else "Generalized"
        )
        params = {
            "location": self.spec.location,
            "tags": self.tags,
            "properties": {
                "hyperVGeneration": self.spec.hyper_v_generation,
                "storageProfile": {
                    "osDisk": {"osType": os_type, "osState": os_state, "snapshot": {"id": os_snapshot}},
                    "dataDisks": [{"lun": lun, "snapshot": {"id": sid}} for lun, sid in data],
                },
            },
        }
        stop = self._step(
            self.observed.image, image_id, "managed image", CreateImage(image_id, params), Reason.CREATING
        )
        if stop is None:
            self.status["imageId"] = image_id
        return stop

    def gallery(self, os_type: str) -> Plan | None:
        gallery_spec, obs, t = self.spec.gallery, self.observed, self.targets
        if gallery_spec is None:
            return None
        assert t.gallery_id is not None
        assert t.gallery_definition_id is not None
        assert t.gallery_version_id is not None
        if obs.gallery is None:
            return self._stall(
                Reason.INVALID_SPEC,
                f"gallery {t.gallery_id} was not found; create the Azure Compute Gallery (the operator "
                "creates image definitions and versions inside it, not the gallery itself)",
            )
        gallery_location = str(obs.gallery.get("location") or self.spec.location)
        os_state = (
            self.spec.source.snapshots.os_disk.os_state if self.spec.source.snapshots else "Generalized"
        )
        wanted = {"osType": os_type, "osState": os_state, "hyperVGeneration": self.spec.hyper_v_generation}
        definition = obs.gallery_definition
        if definition is not None:
            props = definition.get("properties") or {}
            actual = {k: str(props.get(k) or ("V1" if k == "hyperVGeneration" else "")) for k in wanted}
            diffs = [
                f"{k} is {actual[k]} (want {v})" for k, v in wanted.items() if actual[k].lower() != v.lower()
            ]
            # --- trusted launch (issue 12): the definition's SecurityType feature cannot change later.
            if gallery_spec.security_type is not None:
                have = security_feature(props)
                if (have or "Standard").lower() != gallery_spec.security_type.lower():
                    diffs.append(f"SecurityType is {have or 'unset'} (want {gallery_spec.security_type})")
            if diffs:
                return self._stall(
                    Reason.INVALID_SPEC,
                    f"gallery image definition {t.gallery_definition_id} does not match the image: "
                    f"{'; '.join(diffs)}; use another spec.gallery.imageDefinition",
                )
        name = gallery_spec.image_definition
        create_def = EnsureGalleryDefinition(
            t.gallery_definition_id,
            {
                "location": gallery_location,
                "tags": self.tags,
                "properties": {
                    **wanted,
                    "identifier": {"publisher": GALLERY_PUBLISHER, "offer": name, "sku": name},
                    **(
                        {"features": [{"name": "SecurityType", "value": gallery_spec.security_type}]}
                        if gallery_spec.security_type is not None
                        else {}
                    ),
                },
            },
        )
        stop = self._step(
            definition, t.gallery_definition_id, "gallery image definition", create_def, Reason.PUBLISHING
        )
        if stop:
            return stop

        version = obs.gallery_version
        stop = self._not_ours(version, "gallery image version", t.gallery_version_id)
        if stop:
            return stop
        regions = gallery_spec.effective_target_regions(self.spec.location)
        publishing = {
            "targetRegions": [
                {"name": r, "regionalReplicaCount": gallery_spec.replica_count} for r in regions
            ],
            "replicaCount": gallery_spec.replica_count,
        }
        create_ver = CreateGalleryVersion(
            t.gallery_version_id,
            {
                "location": gallery_location,
                "tags": self.tags,
                "properties": {
                    "storageProfile": {"source": {"id": t.image_id}},
                    "publishingProfile": publishing,
                    # The Gallery RP refuses to drop a replicated region unless this is true; the
                    # operator owns the version's regions (spec.gallery.targetRegions).
                    "safetyProfile": dict(REPLICATION_SAFETY),
                },
            },
        )
        reason = Reason.PUBLISHING if version is None else Reason.REPLICATING
        stop = self._step(version, t.gallery_version_id, "gallery image version", create_ver, reason)
        if stop:
            return stop
        assert version is not None
        if self._replication_differs(version, regions, gallery_spec.replica_count):
            op = lro.Operation("UpdateGalleryReplication", t.gallery_version_id, self.now)
            update = UpdateGalleryReplication(
                t.gallery_version_id,
                {"properties": {"publishingProfile": publishing, "safetyProfile": dict(REPLICATION_SAFETY)}},
            )
            return self._progress(
                update, Reason.REPLICATING, f"updating replication to {', '.join(regions)}", op
            )
        self.status["galleryImageVersionId"] = t.gallery_version_id
        # The regions Azure replicates to (what pools are checked against), not the spec's.
        profile = (version.get("properties") or {}).get("publishingProfile") or {}
        self.status["targetRegions"] = [
            str(r.get("name")) for r in profile.get("targetRegions") or [] if r.get("name")
        ]
        return None

    @staticmethod
    def _replication_differs(version: Mapping[str, Any], regions: tuple[str, ...], replicas: int) -> bool:
        profile = ((version.get("properties") or {}).get("publishingProfile")) or {}
        actual = {
            normalize_location(str(r.get("name", ""))): r.get(
                "regionalReplicaCount", profile.get("replicaCount", 1)
            )
            for r in profile.get("targetRegions") or []
        }
        wanted = {normalize_location(r): replicas for r in regions}
        return actual != wanted


def plan_image(
    meta: names.ObjectMeta,
    spec: ManagedImageSpec,
    status: Mapping[str, Any],
    observed: ObservedImage,
    now: datetime,
    settings: Settings,
) -> Plan:
    """The single next step for a ManagedImage (see the module docstring)."""
    problems = validate_image_spec(spec)
    try:
        targets = image_targets(meta, spec, settings)
    except ValueError as exc:
        problems.append(str(exc))
    if problems:
        return stall_plan(meta.generation, now, Reason.INVALID_SPEC, "; ".join(problems))

    planner = _Planner(meta, spec, status, observed, targets, now, settings)
    if observed.image is None:
        stop, os_type, os_snapshot, data = planner.source()
        if stop is not None:
            return stop
    else:
        # The image exists: its sources are no longer needed (the VM may be gone by now).
        profile = (observed.image.get("properties") or {}).get("storageProfile") or {}
        os_type = str((profile.get("osDisk") or {}).get("osType") or "Linux")
        os_snapshot, data = "", ()
        planner.status["snapshotIds"] = list(status.get("snapshotIds") or targets.source_snapshot_ids)
    stop = planner.image(os_type, os_snapshot, data)
    if stop is None:
        stop = planner.gallery(os_type)
    if stop is not None:
        return stop
    where = targets.gallery_version_id or targets.image_id
    return Plan(
        Done(),
        tuple(conditions.ready(meta.generation, now, Reason.SUCCEEDED, f"image published as {where}")),
        {**planner.status, "provisioningState": "Succeeded", "operations": []},
        polling.slow(settings),
    )


def security_feature(definition_properties: Mapping[str, Any]) -> str | None:
    """The ``SecurityType`` feature of a gallery image definition (None when it has none)."""
    for feature in definition_properties.get("features") or ():
        if str(feature.get("name", "")).lower() == "securitytype":
            return str(feature.get("value", ""))
    return None
