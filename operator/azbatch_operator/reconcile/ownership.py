"""Who owns an Azure resource, read from the tags the operator stamps on everything it creates.

Contract::

    owner = ownership.decide(tags, meta)      # tags: ARM tags (and a pool's metadata) as a mapping
    owner.kind in (Kind.OURS, Kind.UNOWNED, Kind.FOREIGN)

``OURS``: the resource carries this object's uid (created by it, or adopted and stamped by it).
``UNOWNED``: no ownership tag at all (made outside the operator): it may be adopted, but only when its
immutable properties match the spec (the planners check those).  ``FOREIGN``: the tags name another
object (another namespace with the same poolName, another ManagedImage with the same imageName, an
earlier incarnation of this name): never adopted, changed or deleted (``AlreadyOwned``).

A resource with an owner tag but no uid tag (someone copied half of it) is FOREIGN unless the owner
names this very object: the operator never guesses in the direction that could delete a billed
resource.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from azbatch_operator.reconcile import names


class Kind(StrEnum):
    OURS = "ours"
    UNOWNED = "unowned"
    FOREIGN = "foreign"


@dataclass(frozen=True)
class Ownership:
    kind: Kind
    #: ``namespace/name`` of the owning object as its tag says (FOREIGN), when it says one.
    owner: str | None = None
    #: The owner's uid tag (FOREIGN), when present.
    owner_uid: str | None = None

    @property
    def foreign(self) -> bool:
        return self.kind is Kind.FOREIGN

    def describe(self) -> str:
        """``BatchPool team-a/render (uid 1234…)``-style words for a message."""
        who = self.owner or "another object"
        return f"{who} (uid {self.owner_uid})" if self.owner_uid else who


def decide(tags: Mapping[str, str] | None, meta: names.ObjectMeta) -> Ownership:
    """Ownership of a resource with these tags, seen from ``meta`` (tag names are case-insensitive)."""
    lowered = {str(k).lower(): str(v) for k, v in (tags or {}).items()}
    uid = lowered.get(names.UID_TAG.lower())
    owner = lowered.get(names.OWNER_TAG.lower())
    if uid is None and owner is None:
        return Ownership(Kind.UNOWNED)
    if uid is not None and uid == meta.uid:
        return Ownership(Kind.OURS, owner, uid)
    if uid is None and owner == meta.ref:
        # Only the owner tag, naming this object: stamped by this object (e.g. the uid tag was
        # removed by hand). Treated as ours, so a restarted create finds its own resource.
        return Ownership(Kind.OURS, owner)
    return Ownership(Kind.FOREIGN, owner, uid)


def pool_tags(pool: Mapping[str, Any]) -> dict[str, str]:
    """A Batch pool's ownership: its ARM ``tags`` merged with its ``metadata`` name/value pairs
    (where the operator stamps them, since pool metadata is what Batch returns on every GET)."""
    out: dict[str, str] = {str(k): str(v) for k, v in (pool.get("tags") or {}).items()}
    entries: Iterable[Any] = (pool.get("properties") or {}).get("metadata") or []
    for entry in entries:
        if isinstance(entry, Mapping) and entry.get("name") is not None:
            out[str(entry["name"])] = str(entry.get("value") or "")
    return out


def stamped_metadata(pool: Mapping[str, Any], meta: names.ObjectMeta) -> list[dict[str, str]]:
    """The pool's metadata with this object's ownership entries added (PATCH replaces the list, so
    every other entry is kept as it is)."""
    own = {k.lower() for k in names.owner_tags(meta)}
    entries: Iterable[Any] = (pool.get("properties") or {}).get("metadata") or []
    kept = [
        {"name": str(e["name"]), "value": str(e.get("value") or "")}
        for e in entries
        if isinstance(e, Mapping) and e.get("name") is not None and str(e["name"]).lower() not in own
    ]
    return kept + [{"name": k, "value": v} for k, v in names.owner_tags(meta).items()]


def already_owned_message(what: str, resource_id: str, owner: Ownership, rename: str) -> str:
    """The AlreadyOwned message: who owns it, that nothing will touch it, and what to do."""
    return (
        f"{what} {resource_id} belongs to {owner.describe()}: this object will not adopt, change or "
        f"delete it; {rename}"
    )
