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
    """A BatchPool's claim on an image key: the image reference as the pool's spec names it."""

    pool: str
    image_ref_key: str
    dedicated: int
    low_priority: int


def image_ref_key(namespace: str | None, spec: Any) -> str | None:
    image = spec.get("image") or {}
    ref = image.get("managedImageRef") or {}
    if ref.get("name"):
        return f"{MANAGED_IMAGE_KEY_PREFIX}{namespace}/{ref['name']}"
    image_id = image.get("id")
    return str(image_id).lower() if image_id else None


@kopf.index(GROUP, VERSION, "managedimages")
def managed_images(
    *, namespace: str | None, name: str, spec: kopf.Spec, status: kopf.Status, **_: Any
) -> Any:
    cond: Mapping[str, Any] = conditions.find(status.get("conditions") or [], conditions.READY) or {}
    gallery = spec.get("gallery") or None
    regions = None
    if gallery is not None:
        regions = tuple(gallery.get("targetRegions") or [spec.get("location", "")])
    observed_current = status.get("observedGeneration") is not None
    summary = ImageSummary(
        ready=cond.get("status") == "True" and observed_current,
        reason=str(cond.get("reason") or ""),
        message=str(cond.get("message") or ""),
        image_id=status.get("imageId"),
        gallery_version_id=status.get("galleryImageVersionId"),
        location=spec.get("location"),
        target_regions=regions,
    )
    return {(namespace, name): summary}


@kopf.index(GROUP, VERSION, "batchpools")
def pools_by_image(*, namespace: str | None, name: str, spec: kopf.Spec, **_: Any) -> Any:
    """(namespace, ManagedImage name) -> "namespace/pool" for pools that reference it."""
    ref = (spec.get("image") or {}).get("managedImageRef") or {}
    if not ref.get("name"):
        return None
    return {(namespace, ref["name"]): f"{namespace}/{name}"}


@kopf.index(GROUP, VERSION, "batchpools")
def pool_claims(*, namespace: str | None, name: str, spec: kopf.Spec, **_: Any) -> Any:
    key = image_ref_key(namespace, spec)
    fixed = (spec.get("scale") or {}).get("fixed")
    if key is None or not fixed:
        return None
    claim = PoolClaim(
        f"{namespace}/{name}",
        key,
        int(fixed.get("targetDedicatedNodes") or 0),
        int(fixed.get("targetLowPriorityNodes") or 0),
    )
    return {None: claim}
