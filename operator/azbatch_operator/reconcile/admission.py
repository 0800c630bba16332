"""Who may grow on a custom image: the per-image node limits counted the way Azure counts them.

Contract::

    verdict = admission.admit(me, claims, max_dedicated, max_low_priority)

Every pool on the image is a ``Claim``: what it wants (its spec's fixed targets; an autoscale pool
wants what its formula set) and what it holds (the targets Azure has for it now; None while it does
not exist in Azure).  The decision is one deterministic pass that every pool computes alike:

1. what Azure holds counts first, for every pool (those are nodes Azure already counts);
2. then each pool that wants more than it holds, oldest first (creationTimestamp, then
   ``namespace/name``), is admitted when its growth fits in what is left, and then counts with what
   it wants; a pool that does not fit is refused and counts only what it holds (zero if new).

So a refused pool never blocks the growth of pools that run, of two pools competing for the same
headroom the older is admitted (never both refused), and a pool that shrinks frees nodes only once
Azure reports the smaller target.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from dataclasses import dataclass

from azbatch_operator.reconcile import image_limits
from azbatch_operator.reconcile.image_limits import ImageLimitVerdict


@dataclass(frozen=True)
class Claim:
    pool: str
    image_key: str
    wanted: tuple[int, int]
    #: The (dedicated, low-priority) targets Azure has for the pool; None while it is not in Azure.
    held: tuple[int, int] | None
    #: metadata.creationTimestamp (RFC 3339, so it sorts as text).
    created: str = ""

    @property
    def order(self) -> tuple[str, str]:
        return (self.created, self.pool)


def order(claims: Iterable[Claim]) -> list[Claim]:
    """Admission order: oldest first, then ``namespace/name``."""
    return sorted(claims, key=lambda c: c.order)


def counted(claims: Iterable[Claim], max_dedicated: int, max_low_priority: int) -> dict[str, tuple[int, int]]:
    """What each pool counts for after the pass (see the module docstring)."""
    claims = list(claims)
    counts = {c.pool: c.held or (0, 0) for c in claims}
    # Running sums: every pool of a fleet on one image computes this on each pass.
    total_ded = sum(d for d, _ in counts.values())
    total_low = sum(lp for _, lp in counts.values())
    # Only growth is admitted, so only the growing pools need an order (a steady fleet has none).
    growing = [c for c in claims if not _fits(c, counts[c.pool])]
    for claim in order(growing):
        held = counts[claim.pool]
        want = (max(claim.wanted[0], held[0]), max(claim.wanted[1], held[1]))
        ded = total_ded - held[0] + want[0]
        low = total_low - held[1] + want[1]
        if ded <= max_dedicated and low <= max_low_priority:
            counts[claim.pool] = want
            total_ded, total_low = ded, low
    return counts


def admit(
    me: Claim,
    claims: Iterable[Claim],
    max_dedicated: int,
    max_low_priority: int,
    tally: Tally | None = None,
) -> ImageLimitVerdict:
    """May ``me`` grow to what it wants?  ``claims`` may include ``me`` (replaced by it) and claims on
    other images (ignored).  ``tally``: the same pass over ``claims`` computed before, whose verdict
    serves ``me`` as it is when ``claims`` already hold ``me`` unchanged and it fits."""
    if tally is not None and tally.serves(me, max_dedicated, max_low_priority):
        return tally.fitting
    same = {**_on_image(claims, me.image_key), me.pool: me}
    return _verdict(
        me, same, counted(same.values(), max_dedicated, max_low_priority), max_dedicated, max_low_priority
    )


@dataclass(frozen=True)
class Tally:
    """One image's pass over every claim on it, shared by the pools whose own claim it holds: on a
    fleet's steady passes nothing changes, and each pool would repeat the same O(n) pass."""

    claims: dict[str, Claim]
    counts: dict[str, tuple[int, int]]
    limits: tuple[int, int]
    #: The verdict of each pool in ``counts`` that got what it wants (all of them alike).
    fitting: ImageLimitVerdict

    def serves(self, me: Claim, max_dedicated: int, max_low_priority: int) -> bool:
        if self.limits != (max_dedicated, max_low_priority) or self.claims.get(me.pool) != me:
            return False
        return _fits(me, self.counts[me.pool])


def tally(key: str, claims: Iterable[Claim], max_dedicated: int, max_low_priority: int) -> Tally | None:
    """The pass over the claims on image ``key`` (None when no pool on it fits: then none is served)."""
    same = _on_image(claims, key)
    if not same:
        return None
    counts = counted(same.values(), max_dedicated, max_low_priority)
    # Every pool that fits gives the same verdict: its sums are the counts themselves.
    fitter = next((c for c in same.values() if _fits(c, counts[c.pool])), None)
    if fitter is None:
        return None
    fitting = _verdict(fitter, same, counts, max_dedicated, max_low_priority)
    return Tally(same, counts, (max_dedicated, max_low_priority), fitting)


def _on_image(claims: Iterable[Claim], key: str) -> dict[str, Claim]:
    """The claims on image ``key`` (compared case-insensitively), by pool."""
    key = key.lower()
    return {c.pool: c for c in claims if c.image_key.lower() == key}


def _fits(claim: Claim, counted_as: tuple[int, int]) -> bool:
    return counted_as[0] >= claim.wanted[0] and counted_as[1] >= claim.wanted[1]


def _verdict(
    me: Claim,
    same: dict[str, Claim],
    counts: dict[str, tuple[int, int]],
    max_dedicated: int,
    max_low_priority: int,
) -> ImageLimitVerdict:
    key = me.image_key.lower()
    mine = counts[me.pool]
    fits = _fits(me, mine)
    # The sums as they would be with this pool at what it wants (what the message talks about).
    with_me = {**counts, me.pool: (max(me.wanted[0], mine[0]), max(me.wanted[1], mine[1]))}
    ded = sum(d for d, _ in with_me.values())
    low = sum(lp for _, lp in with_me.values())
    pools = tuple(sorted(same))
    if fits:
        message = (
            f"image {key}: {ded}/{max_dedicated} dedicated and {low}/{max_low_priority} low-priority nodes "
            f"across {describe(with_me)}"
        )
    else:
        over = []
        if ded > max_dedicated:
            over.append(f"{ded} dedicated nodes exceed the limit of {max_dedicated}")
        if low > max_low_priority:
            over.append(f"{low} low-priority nodes exceed the limit of {max_low_priority}")
        message = (
            f"custom image {key} would serve {' and '.join(over)} (pools: {describe(with_me)}); Azure Batch "
            "counts custom-image nodes across all pools using the same image, and older pools are admitted "
            "first — lower the targets, or give this pool its own image"
        )
    return ImageLimitVerdict(fits, key, pools, ded, low, max_dedicated, max_low_priority, message)


def describe(counts: dict[str, tuple[int, int]]) -> str:
    """The largest few pools with their nodes, then "and N more" (bounded, whatever the count)."""
    largest = heapq.nsmallest(image_limits.LISTED, counts, key=lambda p: (-(counts[p][0] + counts[p][1]), p))
    return image_limits.listed(
        (f"{_clip(p)} ({counts[p][0]} dedicated, {counts[p][1]} low-priority)" for p in largest),
        total=len(counts),
    )


def _clip(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else f"{text[: limit - 1]}…"
