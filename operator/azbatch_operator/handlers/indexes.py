"""In-memory cross-object lookups kept current by kopf's watches (no API call to read them).

- which BatchPools reference a ManagedImage (finalizer: the image waits for them; `status.usedBy`);
- each BatchPool's claim on an image (seed S7: node limits summed across pools of one image);
- each ManagedImage's published ids and readiness (pools resolve `managedImageRef` through it).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import kopf

from azbatch_operator.kube import GROUP, VERSION
from azbatch_operator.reconcile import conditions

MANAGED_IMAGE_KEY_PREFIX = "managedimage:"


@dataclass(frozen=True)
class ImageSummary:
    """What a pool needs to know about a ManagedImage."""

    ready: bool
    reason: str
    message: str
    image_id: str | None
    gallery_version_id: str | None
    location: str | None
    target_regions: tuple[str, ...] | None

    @property
    def consumable_id(self) -> str | None:
        """Batch consumes the gallery version when published (managed-image pools are retired)."""
        return self.gallery_version_id or self.image_id


@dataclass(frozen=True)
class PoolClaim:
    """A BatchPool's claim on an image key: the image reference as the pool's spec names it, what it
    wants (fixed targets; an autoscale pool: what its formula set), what Azure holds for it (the
    targets status reports; None while no pool of its exists) and its age (admission order)."""

    pool: str
    image_ref_key: str
    dedicated: int
    low_priority: int
    held: tuple[int, int] | None = None
    created: str = ""


def image_ref_key(namespace: str | None, spec: Any) -> str | None:
    image = spec.get("image") or {}
    ref = image.get("managedImageRef") or {}
    if ref.get("name"):
        return f"{MANAGED_IMAGE_KEY_PREFIX}{namespace}/{ref['name']}"
    image_id = image.get("id")
    return str(image_id).lower() if image_id else None


def summarize_image(
    meta: Mapping[str, Any], spec: Mapping[str, Any], status: Mapping[str, Any]
) -> ImageSummary:
    """Usable by pools only when Ready for the current generation and not being deleted; the
    replication regions are what status says Azure has (the spec's may not be replicated yet)."""
    cond: Mapping[str, Any] = conditions.find(status.get("conditions") or [], conditions.READY) or {}
    generation = meta.get("generation")
    current = generation is None or status.get("observedGeneration") == generation
    deleting = bool(meta.get("deletionTimestamp"))
    regions = status.get("targetRegions")
    if regions is None and spec.get("gallery"):
        # Written by operators before status carried the regions: the spec's, once Ready.
        regions = (spec.get("gallery") or {}).get("targetRegions") or [spec.get("location", "")]
    reason, message = str(cond.get("reason") or ""), str(cond.get("message") or "")
    if deleting:
        reason, message = "Deleting", "the ManagedImage is being deleted"
    elif not current:
        reason, message = "Reconciling", "the ManagedImage's latest spec is not in place yet"
    return ImageSummary(
        ready=cond.get("status") == "True" and current and not deleting,
        reason=reason,
        message=message,
        image_id=status.get("imageId"),
        gallery_version_id=status.get("galleryImageVersionId"),
        location=spec.get("location"),
        target_regions=tuple(str(r) for r in regions) if regions is not None else None,
    )


@kopf.index(GROUP, VERSION, "managedimages")
def managed_images(
    *, namespace: str | None, name: str, meta: kopf.Meta, spec: kopf.Spec, status: kopf.Status, **_: Any
) -> Any:
    return {(namespace, name): summarize_image(meta, spec, status)}


@kopf.index(GROUP, VERSION, "batchpools")
def pools_by_image(*, namespace: str | None, name: str, spec: kopf.Spec, **_: Any) -> Any:
    """(namespace, ManagedImage name) -> "namespace/pool" for pools that reference it."""
    ref = (spec.get("image") or {}).get("managedImageRef") or {}
    if not ref.get("name"):
        return {}  # not None: kopf would keep the entry of a ref the spec no longer has
    return {(namespace, ref["name"]): f"{namespace}/{name}"}


def held_targets(status: Mapping[str, Any]) -> tuple[int, int] | None:
    """The targets Azure has for the pool, as status last reported them (None: no pool in Azure)."""
    if not status.get("poolId"):
        return None
    return int(status.get("targetDedicatedNodes") or 0), int(status.get("targetLowPriorityNodes") or 0)


def claim_of(
    namespace: str | None,
    name: str,
    meta: Mapping[str, Any],
    spec: Mapping[str, Any],
    status: Mapping[str, Any],
) -> PoolClaim | None:
    key = image_ref_key(namespace, spec)
    if key is None:
        return None
    held = held_targets(status)
    fixed = (spec.get("scale") or {}).get("fixed")
    stalled: Mapping[str, Any] = conditions.find(status.get("conditions") or [], conditions.STALLED) or {}
    # A pool that will not be created without a human (AlreadyOwned, InvalidSpec, ...) claims no
    # headroom; one refused for the limit itself still competes for it (oldest first).
    blocked = (
        held is None
        and stalled.get("status") == "True"
        and stalled.get("reason") != conditions.Reason.IMAGE_NODE_LIMIT_EXCEEDED
    )
    wanted = (
        (int(fixed.get("targetDedicatedNodes") or 0), int(fixed.get("targetLowPriorityNodes") or 0))
        if fixed and not meta.get("deletionTimestamp") and not blocked
        else held or (0, 0)
    )
    return PoolClaim(
        f"{namespace}/{name}", key, wanted[0], wanted[1], held, str(meta.get("creationTimestamp") or "")
    )


@kopf.index(GROUP, VERSION, "batchpools")
def pool_claims(
    *, namespace: str | None, name: str, meta: kopf.Meta, spec: kopf.Spec, status: kopf.Status, **_: Any
) -> Any:
    claim = claim_of(namespace, name, meta, spec, status)
    return None if claim is None else {None: claim}


@kopf.index(GROUP, VERSION, "batchpools")
def pools_by_image_id(
    *, namespace: str | None, name: str, spec: kopf.Spec, status: kopf.Status, **_: Any
) -> Any:
    """Lower-cased ``spec.image.id`` -> "namespace/pool": a pool naming a ManagedImage's image or
    gallery version by id holds that ManagedImage as a ``managedImageRef`` does.  During a rollout
    (issue 13) the old pool's image (``status.rollout.fromImage``) is held too, until the rollout
    ends with the old pool gone."""
    image: Mapping[str, Any] = spec.get("image") or {}
    ids = {str(image.get("id") or "").lower()}
    rollout: Mapping[str, Any] = (status.get("rollout") if status else None) or {}
    ids.add(str(rollout.get("fromImage") or "").lower())
    ids.discard("")
    # {} rather than None: kopf keeps an object's previous entries when an index returns None.
    return dict.fromkeys(ids, f"{namespace}/{name}")
