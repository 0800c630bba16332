"""How BatchPools name their image, and what a pool needs to know about it (pure).

A pool names its image by ``managedImageRef`` (a ManagedImage in its namespace, resolved through
the ``managed_images`` index) or by ``image.id``; these functions turn the index entries into the
image a pool is planned against and into the per-image claims that seed S7's node limits sum up.
The kopf indexes themselves are registered in ``handlers/indexes.py``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from azbatch_operator.api.batch_pool import BatchPoolSpec
from azbatch_operator.reconcile import admission, conditions, image_limits, rollout
from azbatch_operator.reconcile.conditions import Reason
from azbatch_operator.reconcile.pool_plan import ResolvedImage
from azbatch_operator.settings import Settings

#: The index of ManagedImages: (namespace, name) -> its summaries (one per object).
Images = Mapping[Any, Iterable["ImageSummary"]]

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


def resolve_image(namespace: str, spec: BatchPoolSpec, images: Images) -> ResolvedImage:
    """managedImageRef -> the ManagedImage's published id (from the index); image.id as given."""
    if spec.image.id is not None:
        return resolve_by_id(spec.image.id, images)
    assert spec.image.managed_image_ref is not None
    ref = spec.image.managed_image_ref.name
    found = list(images.get((namespace, ref), []))
    if not found:
        return ResolvedImage(
            None,
            ready=False,
            reason=Reason.IMAGE_NOT_READY,
            message=f"ManagedImage {namespace}/{ref} does not exist (yet); the pool waits for it",
        )
    summary = found[0]
    if not summary.ready or summary.consumable_id is None:
        why = f" ({summary.reason}: {summary.message})" if summary.reason else ""
        return ResolvedImage(
            None,
            ready=False,
            reason=Reason.IMAGE_NOT_READY,
            message=f"waiting for ManagedImage {namespace}/{ref} to be Ready{why}",
        )
    return ResolvedImage(
        summary.consumable_id, location=summary.location, target_regions=summary.target_regions
    )


def resolve_by_id(image_id: str, images: Images) -> ResolvedImage:
    """``spec.image.id`` as given, unless a ManagedImage publishes that id and is not usable right
    now (being deleted, or rebuilding for a new spec): then the pool waits, like a managedImageRef."""
    wanted = image_id.lower()
    for (ns, name), store in images.items():
        for summary in store:
            ids = {i.lower() for i in (summary.image_id, summary.gallery_version_id) if i}
            if wanted not in ids:
                continue
            if not summary.ready:
                return ResolvedImage(
                    None,
                    ready=False,
                    reason=Reason.IMAGE_NOT_READY,
                    message=f"image {image_id} is ManagedImage {ns}/{name}'s, which is not usable now "
                    f"({summary.reason}: {summary.message}); the pool waits for it",
                )
    return ResolvedImage(image_id)


@dataclass(frozen=True)
class ResolvedClaims:
    """Every pool's claim from the ``pool_claims`` index with its image key resolved through the
    ``managed_images`` index (``sources``: gallery version -> managed image).  Built once per change
    of either index (``handlers/indexes.py``), not once per pass: a fleet of n pools on one image
    would otherwise rebuild n claims on each of its n passes."""

    sources: Mapping[str, str]
    claims: tuple[admission.Claim, ...]
    _tallies: dict[tuple[str, int, int], admission.Tally | None] = field(
        default_factory=dict, compare=False, repr=False
    )

    def tally(self, key: str, max_dedicated: int, max_low_priority: int) -> admission.Tally | None:
        """The admission pass over the claims on image ``key``, made on first use (memoised: the
        claims do not change, a new index state is a new ``ResolvedClaims``)."""
        memo_key = (key.lower(), max_dedicated, max_low_priority)
        if memo_key not in self._tallies:
            self._tallies[memo_key] = admission.tally(key, self.claims, max_dedicated, max_low_priority)
        return self._tallies[memo_key]


def resolve_claims(claims: Iterable[PoolClaim], images: Images) -> ResolvedClaims:
    sources: dict[str, str] = {}
    by_ref: dict[str, str] = {}
    for (ns, name), store in images.items():
        for summary in store:
            if summary.gallery_version_id and summary.image_id:
                sources[summary.gallery_version_id.lower()] = summary.image_id.lower()
            if summary.consumable_id:
                by_ref[f"{MANAGED_IMAGE_KEY_PREFIX}{ns}/{name}"] = summary.consumable_id
    resolved = []
    keys: dict[str, str] = {}  # pools of a fleet share a few image references: resolve each once
    for claim in claims:
        key = keys.get(claim.image_ref_key)
        if key is None:
            ref = by_ref.get(claim.image_ref_key, claim.image_ref_key)
            key = keys[claim.image_ref_key] = image_limits.image_key(ref, sources)
        resolved.append(
            admission.Claim(claim.pool, key, (claim.dedicated, claim.low_priority), claim.held, claim.created)
        )
    return ResolvedClaims(sources, tuple(resolved))


def image_limit_verdict(
    meta: Mapping[str, Any],
    spec: BatchPoolSpec,
    status: Mapping[str, Any],
    image_id: str | None,
    others: ResolvedClaims,
    settings: Settings,
) -> image_limits.ImageLimitVerdict | None:
    """Seed S7: may this pool grow to its targets on its image, counted with every other pool on it
    the way Azure counts them (reconcile/admission.py)?"""
    if image_id is None or spec.scale.fixed is None:
        return None
    sources = others.sources
    # This pool as it is now (its own index entry may lag behind the status just written).
    me = admission.Claim(
        f"{meta['namespace']}/{meta['name']}",
        image_limits.image_key(image_id, sources),
        (spec.scale.fixed.target_dedicated_nodes, spec.scale.fixed.target_low_priority_nodes),
        held_targets(status),
        str(meta.get("creationTimestamp") or ""),
    )
    # While a BlueGreen rollout has two pools, both count (the retiring one on its old image).
    from_image = (rollout.rollout_of(status) or {}).get("fromImage")
    old_key = image_limits.image_key(str(from_image), sources) if from_image else None
    me, retiring = rollout.limit_claims(me, status, old_key)
    limits = (settings.image_max_dedicated_nodes, settings.image_max_low_priority_nodes)
    shared = None if retiring else others.tally(me.image_key, *limits)
    return admission.admit(me, [*others.claims, *retiring], *limits, tally=shared)


def sharers_to_wake(
    verdict: image_limits.ImageLimitVerdict | None, was_shared: bool, newcomer: tuple[str, str]
) -> list[tuple[str, str]] | None:
    """Seed S5: when this pool (``newcomer``, namespace and name) has just begun sharing its image,
    the other pools on it, as (namespace, name): those already at their target poll slowly and
    are told soon.  None when there is nothing to tell."""
    if verdict is None or not verdict.shared or was_shared:
        return None
    named = (p.partition("/") for p in verdict.pools)
    return [(ns, name) for ns, _, name in named if (ns, name) != newcomer]
