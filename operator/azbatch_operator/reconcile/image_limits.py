"""Aggregate node limits per custom image (seed S7) and the shared-image warning (seed S5).

Batch limits custom-image pools to ``max_dedicated`` dedicated and ``max_low_priority`` low-priority
nodes counted across every pool that uses the same image.  "The same image" is the resolved image
id compared case-insensitively, with a gallery version and the managed image it was built from
(and that image's snapshot, when known) folded into one key through ``sources``.

Contract::

    key = image_key(image_id, sources)          # sources: {id: id it was built from}

Who may grow within the limits is decided in ``reconcile/admission.py`` (its ``ImageLimitVerdict``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class ImageLimitVerdict:
    fits: bool
    image_key: str
    #: Every pool (``namespace/name``) counted against this image, sorted, including this one.
    pools: tuple[str, ...]
    dedicated_sum: int
    low_priority_sum: int
    max_dedicated: int
    max_low_priority: int
    message: str

    @property
    def shared(self) -> bool:
        """Seed S5: the Batch documentation advises one image per pool."""
        return len(self.pools) > 1

    def shared_message(self) -> str:
        return (
            f"image {self.image_key} is shared by {len(self.pools)} pools ({listed(self.pools)}); Azure "
            "Batch advises one unique image per pool, and the custom-image node limits are counted across "
            "all of them"
        )


#: Names listed in a message before "and N more", so messages stay short whatever the pool count.
LISTED = 3


def listed(items: Iterable[str], limit: int = LISTED, total: int | None = None) -> str:
    """``a, b, c and 697 more``: a bounded list for a message.  ``total``: how many there are when
    ``items`` holds only the first ``limit`` (so a caller need not format every one)."""
    seq = list(items)
    count = len(seq) if total is None else total
    shown = ", ".join(seq[:limit])
    return f"{shown} and {count - limit} more" if count > limit else shown


def image_key(image_id: str, sources: Mapping[str, str] | None = None) -> str:
    """Lower-cased id of the root image: follows ``sources`` (gallery version -> managed image ->
    snapshot) so pools on any of them count against one limit.  Cycles are cut."""
    lowered = {k.lower(): v.lower() for k, v in (sources or {}).items()}
    key = image_id.lower()
    seen = {key}
    while key in lowered and lowered[key] not in seen:
        key = lowered[key]
        seen.add(key)
    return key
