"""ManagedImage deletion (finalizer): wait for users, then remove what the operator created.

Contract::

    plan = plan_image_delete(meta, spec, status, observed, used_by, now, settings)

``used_by`` lists ``namespace/name`` of BatchPools that reference the image (seed S9: the image
must exist for each pool's whole life); while non-empty, nothing is deleted.  With
``deletionPolicy: Orphan`` the finalizer is released at once.  With ``Delete``: the gallery version,
then the managed image, then the operator's snapshots, one at a time, each confirmed gone (GET 404)
before the next.  Only resources tagged with this object's uid are deleted; the gallery image
definition is left in place (other versions may live in it).  A create recorded in
``status.operations`` that GET does not show yet is waited for (then deleted) before release.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from azbatch_operator.api.managed_image import ManagedImageSpec
from azbatch_operator.reconcile import conditions, lro, names, polling
from azbatch_operator.reconcile.conditions import Reason
from azbatch_operator.reconcile.errors import Category, Classification
from azbatch_operator.reconcile.image_plan import ImageTargets
from azbatch_operator.reconcile.plan import DeleteResource, Plan, Release, Wait, stall_plan
from azbatch_operator.settings import Settings

#: After the finalizer has published Deleting, how long the watch is given to deliver pools applied
#: just before (they are then seen as users) before the first Azure delete.
DELETING_SETTLE_SECONDS = 2.0


@dataclass(frozen=True)
class ObservedForDelete:
    """GET results (None = 404) for the ids in ``status`` (and the derived names, after a crash)."""

    gallery_version: Mapping[str, Any] | None = None
    image: Mapping[str, Any] | None = None
    #: lower-cased snapshot id -> ARM dict or None.
    snapshots: Mapping[str, Mapping[str, Any] | None] = field(default_factory=dict)


def plan_image_delete(
    meta: names.ObjectMeta,
    spec: ManagedImageSpec,
    status: Mapping[str, Any],
    observed: ObservedForDelete,
    used_by: Sequence[str],
    now: datetime,
    settings: Settings,
) -> Plan:
    gen = meta.generation
    if used_by:
        pools = ", ".join(sorted(used_by))
        return stall_plan(
            gen,
            now,
            Reason.IMAGE_IN_USE,
            f"deletion is waiting: BatchPool(s) {pools} still use this image, and Azure Batch needs the "
            "image for a pool's whole life (resizes fail with AllocationFailed without it); delete or "
            "repoint those pools first",
            requeue_after=polling.slow(settings),
        )
    if spec.deletion_policy == "Orphan":
        return Plan(
            Release("deletionPolicy Orphan: Azure resources are left in place"),
            tuple(conditions.deleting(gen, now, "releasing; Azure resources are kept (Orphan)")),
            {"observedGeneration": gen},
        )

    in_flight = _create_in_flight(status, observed, now, settings)
    if in_flight is not None:
        message = (
            f"waiting for the create of {in_flight.resource_id} sent at "
            f"{conditions.rfc3339(in_flight.started_at)}; it is deleted once Azure shows it"
        )
        return Plan(
            Wait(polling.fast(settings), Reason.DELETING),
            tuple(conditions.deleting(gen, now, message)),
            {"observedGeneration": gen},
            polling.fast(settings),
        )

    steps: list[tuple[str, Mapping[str, Any], str]] = []
    if observed.gallery_version is not None:
        vid = str(observed.gallery_version.get("id") or status.get("galleryImageVersionId") or "")
        steps.append((vid, observed.gallery_version, "gallery image version"))
    if observed.image is not None:
        iid = str(observed.image.get("id") or status.get("imageId") or "")
        steps.append((iid, observed.image, "managed image"))
    for key in sorted(observed.snapshots):
        snap = observed.snapshots[key]
        if snap is not None:
            steps.append((str(snap.get("id") or key), snap, "snapshot"))

    for resource_id, resource, label in steps:
        if not names.is_owned(resource.get("tags"), meta):
            continue  # not created by this object (user-supplied snapshot, foreign image): leave it
        deletes = [op for op in lro.operations(status) if op.type == "DeleteResource"]
        if lro.state_of(resource) is lro.State.DELETING or lro.recently_started(
            deletes, resource_id, now, settings.create_grace_seconds
        ):
            message = f"waiting for {label} {resource_id} to be deleted"
            return Plan(
                Wait(polling.fast(settings), Reason.DELETING),
                tuple(conditions.deleting(gen, now, message)),
                {"observedGeneration": gen},
                polling.fast(settings),
            )
        op = lro.Operation("DeleteResource", resource_id, now)
        return Plan(
            DeleteResource(resource_id),
            tuple(conditions.deleting(gen, now, f"deleting {label} {resource_id}")),
            {"observedGeneration": gen, "operations": [op.to_status()]},
            polling.fast(settings),
        )
    return Plan(
        Release("all Azure resources created for this image are deleted"),
        tuple(conditions.deleting(gen, now, "Azure resources deleted; releasing")),
        {"observedGeneration": gen, "operations": []},
    )


def announcement(
    meta: names.ObjectMeta, spec: ManagedImageSpec, announced: bool, now: datetime
) -> Plan | None:
    """Before the first Azure delete (policy Delete, no pool holding the image): publish Deleting,
    so pools see the image as unusable, and wait ``DELETING_SETTLE_SECONDS`` for the watch to
    deliver pools applied a moment before.  None once announced, or with policy Orphan."""
    if announced or spec.deletion_policy == "Orphan":
        return None
    gen = meta.generation
    return Plan(
        Wait(DELETING_SETTLE_SECONDS, Reason.DELETING),
        tuple(conditions.deleting(gen, now, "no BatchPool uses the image; deleting it")),
        {"observedGeneration": gen, "usedBy": []},
        DELETING_SETTLE_SECONDS,
    )


def vm_to_read(targets: ImageTargets, status: Mapping[str, Any]) -> str | None:
    """The VM to read before ``snapshots_to_delete``: only when status never recorded the
    snapshots (the VM says which LUNs it has)."""
    return None if status.get("snapshotIds") else targets.vm_id


def snapshots_to_delete(
    meta: names.ObjectMeta,
    targets: ImageTargets,
    status: Mapping[str, Any],
    vm: Mapping[str, Any] | None,
) -> list[str]:
    """Snapshot ids to look at when deleting: those in status, plus (VM source) the deterministic
    names of one per VM disk (``vm``: read when ``vm_to_read`` names it), so a crash before status recorded
    them leaks nothing. Only the ones tagged with this object's uid are ever deleted (user-supplied
    snapshots are left alone)."""
    recorded = list(status.get("snapshotIds") or [])
    ids = list(recorded)
    if targets.vm_id is not None:
        ids.extend(targets.vm_snapshot_ids(meta, None if recorded else vm))
    seen: dict[str, str] = {}
    for sid in ids:
        seen.setdefault(sid.lower(), sid)
    return list(seen.values())


def releases_when_refused(
    spec: ManagedImageSpec, status: Mapping[str, Any], error: Classification | None
) -> bool:
    """A read or delete refused (403) when nothing was ever built (no image, no version recorded;
    snapshots are the user's): holding the finalizer would only block the deletion."""
    return (
        error is not None
        and error.category is Category.FORBIDDEN
        and not status.get("imageId")
        and not status.get("galleryImageVersionId")
        and spec.source.virtual_machine is None
    )


#: Creates whose resource the finalizer deletes (the gallery image definition is left in place).
_CREATES = frozenset({"CreateSnapshot", "CreateImage", "CreateGalleryVersion"})


def _create_in_flight(
    status: Mapping[str, Any], observed: ObservedForDelete, now: datetime, settings: Settings
) -> lro.Operation | None:
    """A create recorded in status (sent before this object was deleted) that GET does not show yet:
    ARM may still be processing it, and releasing now would leave a resource no object knows."""
    present = {
        str(r.get("id") or "").lower()
        for r in (observed.gallery_version, observed.image, *observed.snapshots.values())
        if r is not None
    }
    for op in lro.operations(status):
        if op.type not in _CREATES or op.resource_id.lower() in present:
            continue
        if (now - op.started_at).total_seconds() < settings.create_grace_seconds:
            return op
    return None
