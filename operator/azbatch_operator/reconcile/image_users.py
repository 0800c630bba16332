"""Which BatchPools hold a ManagedImage, and what the image reports and does about them (pure).

A pool holds an image by ``managedImageRef`` or by ``image.id`` naming one of the ids the image's
status carries (its managed image, its gallery version, or that version's definition: "latest").
The image lists them in ``status.usedBy``, keeps its finalizer while any remain, and wakes them
when it becomes Ready.  The kopf indexes these read are registered in ``handlers/indexes.py``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from azbatch_operator.reconcile import conditions, polling
from azbatch_operator.reconcile.conditions import Condition
from azbatch_operator.settings import Settings

#: status.usedBy holds at most this many pools (the CRD's maxItems); the finalizer counts them all.
USED_BY_MAX = 1000
#: A waiting finalizer's log line names this many pools, then how many more.
SHOWN_IN_LOG = 5


def held_ids(status: Mapping[str, Any]) -> list[str]:
    """Lower-cased ids a pool's ``image.id`` may name to hold the image."""
    ids = [status.get("imageId"), status.get("galleryImageVersionId")]
    version = status.get("galleryImageVersionId")
    if version and "/versions/" in str(version).lower():
        ids.append(str(version)[: str(version).lower().rindex("/versions/")])
    return [str(i).lower() for i in ids if i]


def holders(
    by_ref: Mapping[Any, Iterable[str]],
    by_id: Mapping[Any, Iterable[str]],
    namespace: str,
    name: str,
    status: Mapping[str, Any],
) -> list[str]:
    """``namespace/name`` of the pools holding the image, sorted: by reference (``by_ref``, keyed
    by (namespace, name)) or by one of its ids (``by_id``, keyed by lower-cased id)."""
    found = set(by_ref.get((namespace, name), []))
    for image_id in held_ids(status):
        found.update(by_id.get(image_id, []))
    return sorted(found)


def used_by(pools: Sequence[str]) -> list[dict[str, str]]:
    """``status.usedBy``: the first ``USED_BY_MAX`` pools as object references."""
    refs = (p.split("/", 1) for p in pools[:USED_BY_MAX])
    return [{"namespace": namespace, "name": name} for namespace, name in refs]


def shown(pools: Sequence[str]) -> str:
    """The pools a waiting finalizer names in its log line (a few, then how many more)."""
    more = len(pools) - SHOWN_IN_LOG
    return ", ".join(pools[:SHOWN_IN_LOG]) + (f" and {more} more" if more > 0 else "")


def became_ready(before: Iterable[Condition], after: Iterable[Condition]) -> bool:
    """Ready now and not before: the pools holding the image are woken to use it."""
    return conditions.holds(after, conditions.READY) and not conditions.holds(before, conditions.READY)


def requeue_after(
    planned: float | None, users: list[dict[str, str]], status: Mapping[str, Any], settings: Settings
) -> float | None:
    """When the image's loop comes back: as planned, but soon while ``usedBy`` is changing (pools
    come and go without touching the image, so only the next look at the index sees them)."""
    if users != status.get("usedBy"):
        return polling.soon(planned, settings)
    return planned
