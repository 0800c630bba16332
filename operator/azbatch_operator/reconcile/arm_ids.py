"""ARM resource ids: parse, format, compare case-insensitively (as ARM does).

``/subscriptions/{s}/resourceGroups/{g}/providers/{Namespace}/{type}/{name}[/{child}/{name}...]``.
Equality and hashing ignore case, so ids typed by users and ids returned by Azure compare equal.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field


class InvalidResourceId(ValueError):
    """Not a well-formed ARM resource id; the message quotes it and says what is wrong."""


@dataclass(frozen=True, eq=False)
class ResourceId:
    subscription: str
    resource_group: str | None = None
    namespace: str | None = None
    types: tuple[str, ...] = ()
    names: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        if len(self.types) != len(self.names):
            raise InvalidResourceId(f"types {self.types} and names {self.names} differ in length")
        if self.types and (self.namespace is None or self.resource_group is None):
            raise InvalidResourceId("a typed resource id needs a resource group and a provider namespace")

    @property
    def name(self) -> str:
        """The last name segment (the resource's own name), or the group/subscription for scopes."""
        if self.names:
            return self.names[-1]
        return self.resource_group or self.subscription

    @property
    def resource_type(self) -> str:
        """``Microsoft.Compute/galleries/images/versions`` style; empty for subscription/group scopes."""
        return "/".join((self.namespace or "", *self.types)) if self.types else ""

    @property
    def parent(self) -> ResourceId | None:
        """The enclosing resource (for a child), or None for a top-level resource or scope."""
        if len(self.types) < 2:
            return None
        return ResourceId(
            self.subscription, self.resource_group, self.namespace, self.types[:-1], self.names[:-1]
        )

    def child(self, type_: str, name: str) -> ResourceId:
        return ResourceId(
            self.subscription, self.resource_group, self.namespace, (*self.types, type_), (*self.names, name)
        )

    def is_type(self, resource_type: str) -> bool:
        return self.resource_type.lower() == resource_type.lower()

    def __str__(self) -> str:
        out = f"/subscriptions/{self.subscription}"
        if self.resource_group is not None:
            out += f"/resourceGroups/{self.resource_group}"
        if self.types:
            out += f"/providers/{self.namespace}"
            for t, n in zip(self.types, self.names, strict=True):
                out += f"/{t}/{n}"
        return out

    def key(self) -> str:
        """Lower-cased canonical text: use as a dict key."""
        return str(self).lower()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ResourceId) and self.key() == other.key()

    def __hash__(self) -> int:
        return hash(self.key())


_UNSAFE = re.compile(r"[?#%\\\s\x00-\x1f\x7f]")


def parse(text: str) -> ResourceId:
    """Parse an ARM id; raises :class:`InvalidResourceId` with an explanation."""
    if not isinstance(text, str) or not text.startswith("/"):
        raise InvalidResourceId(f"{text!r} is not an ARM resource id (it must start with /subscriptions/)")
    parts = text.strip("/").split("/")
    if any(p == "" for p in parts):
        raise InvalidResourceId(f"{text!r} has an empty path segment")
    # Names in ARM ids never hold these; the SDKs would percent-encode them into another request
    # (a query string, a fragment, "..", an encoded "/"), so refuse them instead of sending anything.
    if any(p in (".", "..") or _UNSAFE.search(p) for p in parts):
        raise InvalidResourceId(
            f"{text!r} has a path segment ARM ids cannot contain ('.', '..', whitespace, or one of ?#%\\)"
        )
    if len(parts) < 2 or parts[0].lower() != "subscriptions":
        raise InvalidResourceId(f"{text!r} does not start with /subscriptions/<id>")
    subscription = parts[1]
    rest = parts[2:]
    if not rest:
        return ResourceId(subscription)
    if len(rest) < 2 or rest[0].lower() != "resourcegroups":
        raise InvalidResourceId(f"{text!r}: expected /resourceGroups/<name> after the subscription")
    group = rest[1]
    rest = rest[2:]
    if not rest:
        return ResourceId(subscription, group)
    if len(rest) < 4 or rest[0].lower() != "providers" or len(rest[2:]) % 2:
        raise InvalidResourceId(f"{text!r}: expected /providers/<Namespace>/<type>/<name>[/<type>/<name>...]")
    namespace = rest[1]
    pairs = rest[2:]
    return ResourceId(subscription, group, namespace, tuple(pairs[0::2]), tuple(pairs[1::2]))


def try_parse(text: str | None) -> ResourceId | None:
    if text is None:
        return None
    try:
        return parse(text)
    except InvalidResourceId:
        return None


def same(a: str | ResourceId | None, b: str | ResourceId | None) -> bool:
    """ARM ids are case-insensitive; unparsable text falls back to a case-insensitive string compare."""
    if a is None or b is None:
        return a is b
    return str(a).rstrip("/").lower() == str(b).rstrip("/").lower()


MANAGED_IMAGE = "Microsoft.Compute/images"
SNAPSHOT = "Microsoft.Compute/snapshots"
DISK = "Microsoft.Compute/disks"
VIRTUAL_MACHINE = "Microsoft.Compute/virtualMachines"
GALLERY = "Microsoft.Compute/galleries"
GALLERY_IMAGE = "Microsoft.Compute/galleries/images"
GALLERY_IMAGE_VERSION = "Microsoft.Compute/galleries/images/versions"
BATCH_ACCOUNT = "Microsoft.Batch/batchAccounts"
BATCH_POOL = "Microsoft.Batch/batchAccounts/pools"


def _is(text: str | None, resource_type: str) -> bool:
    rid = try_parse(text)
    return rid is not None and rid.is_type(resource_type)


def is_managed_image_id(text: str | None) -> bool:
    return _is(text, MANAGED_IMAGE)


def is_gallery_image_version_id(text: str | None) -> bool:
    return _is(text, GALLERY_IMAGE_VERSION)


def is_snapshot_id(text: str | None) -> bool:
    return _is(text, SNAPSHOT)


def is_batch_account_id(text: str | None) -> bool:
    return _is(text, BATCH_ACCOUNT)


def is_gallery_image_definition_id(text: str | None) -> bool:
    return _is(text, GALLERY_IMAGE)


def is_gallery_id(text: str | None) -> bool:
    return _is(text, GALLERY)


def is_virtual_machine_id(text: str | None) -> bool:
    return _is(text, VIRTUAL_MACHINE)


def resource_id(subscription: str, resource_group: str, resource_type: str, *names: str) -> ResourceId:
    """Build ``resource_id(sub, rg, "Microsoft.Compute/galleries/images", "g", "def")``."""
    namespace, _, types = resource_type.partition("/")
    type_parts = tuple(types.split("/"))
    if len(type_parts) != len(names):
        raise InvalidResourceId(f"{resource_type} needs {len(type_parts)} names, got {len(names)}")
    return ResourceId(subscription, resource_group, namespace, type_parts, tuple(names))
