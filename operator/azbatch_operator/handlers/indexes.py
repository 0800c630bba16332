"""In-memory cross-object lookups kept current by kopf's watches (no API call to read them).

What each entry holds and how pools use it is decided in ``reconcile/image_refs.py``; this module
only registers the indexes.  They are coroutines: kopf runs a plain function in a worker thread,
a thread hop on every watch event of every object.

- which BatchPools reference a ManagedImage (finalizer: the image waits for them; `status.usedBy`);
- each BatchPool's claim on an image (seed S7: node limits summed across pools of one image);
- each ManagedImage's published ids and readiness (pools resolve `managedImageRef` through it).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import kopf

from azbatch_operator.handlers.derived import Derived
from azbatch_operator.kube import GROUP, VERSION
from azbatch_operator.reconcile.image_refs import (
    MANAGED_IMAGE_KEY_PREFIX as MANAGED_IMAGE_KEY_PREFIX,
)
from azbatch_operator.reconcile.image_refs import ImageSummary as ImageSummary
from azbatch_operator.reconcile.image_refs import PoolClaim as PoolClaim
from azbatch_operator.reconcile.image_refs import ResolvedClaims, claim_of, resolve_claims, summarize_image
from azbatch_operator.reconcile.image_refs import held_targets as held_targets
from azbatch_operator.reconcile.image_refs import image_ref_key as image_ref_key


@kopf.index(GROUP, VERSION, "managedimages")
async def managed_images(
    *, namespace: str | None, name: str, meta: kopf.Meta, spec: kopf.Spec, status: kopf.Status, **_: Any
) -> Any:
    return {(namespace, name): summarize_image(meta, spec, status)}


@kopf.index(GROUP, VERSION, "batchpools")
async def pools_by_image(*, namespace: str | None, name: str, spec: kopf.Spec, **_: Any) -> Any:
    """(namespace, ManagedImage name) -> "namespace/pool" for pools that reference it."""
    ref = (spec.get("image") or {}).get("managedImageRef") or {}
    if not ref.get("name"):
        return {}  # not None: kopf would keep the entry of a ref the spec no longer has
    return {(namespace, ref["name"]): f"{namespace}/{name}"}


@kopf.index(GROUP, VERSION, "batchpools")
async def pool_claims(
    *, namespace: str | None, name: str, meta: kopf.Meta, spec: kopf.Spec, status: kopf.Status, **_: Any
) -> Any:
    claim = claim_of(namespace, name, meta, spec, status)
    return {} if claim is None else {None: claim}


@kopf.index(GROUP, VERSION, "batchpools")
async def pools_by_image_id(
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


def resolved_claims(
    cache: Derived[ResolvedClaims], claims: kopf.Index[Any, Any], images: kopf.Index[Any, Any]
) -> ResolvedClaims:
    """Every pool's image-limit claim with its image key resolved, rebuilt when either index changed."""
    pool_entries = list(claims.get(None, []))
    # Every indexer call stores a new summary object, so the summaries alone track the image index.
    image_entries = [summary for store in images.values() for summary in store]
    return cache.get([*pool_entries, *image_entries], lambda: resolve_claims(pool_entries, images))
