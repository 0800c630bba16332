"""Deterministic Azure names and ownership tags derived from the Kubernetes object.

The same object always maps to the same Azure names, so a restart between "request sent" and
"status written" finds the resource again instead of creating a duplicate.  Names that would break
Azure's rules are sanitised and, when too long, truncated with a hash suffix so they stay unique.

Tag names: Azure refuses ``/`` (and ``<>%&\\?``) in tag names, so the ownership tags are
``azbatch.io-owner`` (value ``namespace/name``) and ``azbatch.io-uid`` (value: the object's uid).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass

#: Prefix of every ownership tag / pool metadata name the operator writes (reserved in the CRD).
OWNER_PREFIX = "azbatch.io-"
OWNER_TAG = "azbatch.io-owner"
UID_TAG = "azbatch.io-uid"

#: Snapshots and managed images: 1-80 chars of [A-Za-z0-9_.-], start alnum, end alnum or "_".
COMPUTE_NAME_MAX = 80
_COMPUTE_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9_.-]{0,78}[A-Za-z0-9_])?$")
#: Batch pools: ^[A-Za-z0-9_-]{1,64}$.
POOL_NAME_MAX = 64
_POOL_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
#: Gallery image definitions: 1-80 chars of [A-Za-z0-9_.-], start and end alnum.
_GALLERY_IMAGE_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9_.-]{0,78}[A-Za-z0-9])?$")
_GALLERY_VERSION = re.compile(r"^(\d+)\.(\d+)\.(\d+)$")


@dataclass(frozen=True)
class ObjectMeta:
    """What the planners need from ``metadata``."""

    namespace: str
    name: str
    uid: str
    generation: int = 1

    @property
    def ref(self) -> str:
        return f"{self.namespace}/{self.name}"


def _digest(text: str, length: int = 8) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def _fit(candidate: str, max_len: int, allowed: str) -> str:
    """Replace runs of disallowed chars by "-", trim the edges; when that changed anything or the
    result is too long, append a hash of the original so distinct inputs keep distinct names."""
    text = re.sub(f"[^{allowed}]+", "-", candidate).strip("-._")
    if text == candidate and len(text) <= max_len:
        return text
    suffix = _digest(candidate)
    head = text[: max_len - len(suffix) - 1].rstrip("-._")
    return f"{head}-{suffix}" if head else suffix


def is_valid_compute_name(name: str) -> bool:
    return bool(_COMPUTE_NAME.match(name))


def is_valid_pool_name(name: str) -> bool:
    return bool(_POOL_NAME.match(name))


def is_valid_gallery_image_name(name: str) -> bool:
    return bool(_GALLERY_IMAGE_NAME.match(name))


def is_valid_gallery_version(version: str) -> bool:
    match = _GALLERY_VERSION.match(version)
    return match is not None and all(int(part) <= 2**31 - 1 for part in match.groups())


def compute_name(candidate: str) -> str:
    """A valid snapshot/image name for ``candidate`` (unchanged when it is already valid)."""
    if is_valid_compute_name(candidate):
        return candidate
    return _fit(candidate, COMPUTE_NAME_MAX, "A-Za-z0-9_.-")


def snapshot_name(meta: ObjectMeta, lun: int | None) -> str:
    """``<ns>-<name>-<uid8>-os`` or ``...-data-lun-<N>``: one per VM disk and object incarnation."""
    disk = "os" if lun is None else f"data-lun-{lun}"
    base = f"{meta.namespace}-{meta.name}"
    tail = f"-{meta.uid.replace('-', '')[:8]}-{disk}"
    room = COMPUTE_NAME_MAX - len(tail)
    if len(base) > room:
        base = f"{base[: room - 9].rstrip('-._')}-{_digest(base)}"
    return compute_name(base + tail)


def image_name(spec_image_name: str | None, metadata_name: str) -> str:
    """``spec.imageName`` (validated separately) or ``metadata.name`` made valid for Azure."""
    return spec_image_name if spec_image_name else compute_name(metadata_name)


def pool_name(spec_pool_name: str | None, metadata_name: str) -> str:
    """``spec.poolName`` or ``metadata.name`` made to fit ``^[A-Za-z0-9_-]{1,64}$``."""
    if spec_pool_name:
        return spec_pool_name
    if is_valid_pool_name(metadata_name):
        return metadata_name
    return _fit(metadata_name, POOL_NAME_MAX, "A-Za-z0-9_-")


def owner_tags(meta: ObjectMeta) -> dict[str, str]:
    """Tags stamped on every resource the operator creates; deletion only touches resources with them."""
    return {OWNER_TAG: meta.ref, UID_TAG: meta.uid}


def is_owned(tags: Mapping[str, str] | None, meta: ObjectMeta) -> bool:
    """True when the resource carries this object's uid tag (tag names are case-insensitive in ARM)."""
    if not tags:
        return False
    lowered = {k.lower(): v for k, v in tags.items()}
    return lowered.get(UID_TAG.lower()) == meta.uid


def owner_of(tags: Mapping[str, str] | None) -> str | None:
    """``namespace/name`` of the owning object, if the resource was created by the operator."""
    if not tags:
        return None
    lowered = {k.lower(): v for k, v in tags.items()}
    return lowered.get(OWNER_TAG.lower())
