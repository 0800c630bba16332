"""The one diff between the pool a BatchPool describes and the pool Azure reports.

Contract::

    d = diff(desired, actual, rotated)   # desired: pool_config.desired_pool(...); actual: the GET
    d.live_fields / d.empty_fields       # spec-level field names that differ
    d.patch(include_empty)               # the PATCH body: only the top-level properties that differ

Which property changes where follows "Update Batch pool properties" (Microsoft Learn, management
API 2024-07-01 and later): applicationPackages, metadata, scaleSettings and startTask change on a
pool with nodes (certificates too, but 2025-06-01 no longer has them); every other updatable
property only when the pool has zero nodes.  ``identity`` and ARM ``tags`` sit outside
``properties``; Batch accepts both on a live pool.  ``scaleSettings`` is the resize planner's.

Comparison is "what the spec says is what Azure has": every value the spec sets must be equal in
Azure's view (ARM ids, enums and VM sizes case-insensitively); values Azure adds on its own (defaults,
read-only fields) are ignored, except in ``metadata``, which must match exactly (owner entries
included), so an entry added out of band is removed.  Secret leaves (Batch never returns them) are
not compared: a rotated Secret is reported through ``rotated`` (top-level spec fields whose
referenced Secrets changed) instead.  Live properties the spec omits are reset (``startTask: {}``
removes a start task, as Batch documents); empty-pool properties the spec omits are left as they
are, except those with a Batch default (taskSlotsPerNode 1, interNodeCommunication Disabled, ...).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from azbatch_operator.reconcile.pool_config import SECRET_FIELDS, VM_CONFIGURATION_FIELDS

Json = dict[str, Any]

#: Pool properties Batch changes in place on a pool with nodes (besides scaleSettings).
LIVE_PROPERTIES = ("startTask", "applicationPackages", "metadata")
#: Properties Batch only changes on a pool with zero nodes, in the order Batch reports them.
EMPTY_POOL_PROPERTIES = (
    "deploymentConfiguration",
    "vmSize",
    "networkConfiguration",
    "interNodeCommunication",
    "taskSlotsPerNode",
    "userAccounts",
    "mountConfiguration",
    "upgradePolicy",
    "displayName",
    "taskSchedulingPolicy",
)
#: What an omitted property means (Batch's defaults); None: "whatever the pool has".
DEFAULTS: Mapping[str, Any] = {
    "startTask": {},
    "applicationPackages": [],
    "metadata": [],
    "taskSlotsPerNode": 1,
    "interNodeCommunication": "Disabled",
    "taskSchedulingPolicy": {"nodeFillType": "Spread"},
    "userAccounts": [],
    "mountConfiguration": [],
}
#: Keys whose string values Azure treats (and may return) case-insensitively.
CASE_INSENSITIVE = frozenset(
    {
        "vmSize",
        "nodeAgentSkuId",
        "id",
        "resourceId",
        "subnetId",
        "ipAddressIds",
        "securityType",
        "mode",
        "policy",
        "provision",
        "scope",
        "elevationLevel",
        "caching",
        "storageAccountType",
        "placement",
        "interNodeCommunication",
        "nodeFillType",
        "jobDefaultOrder",
        "dynamicVnetAssignmentScope",
        "protocol",
        "access",
        "loginMode",
        "licenseType",
        "workingDirectory",
        "targets",
        "type",
        "securityEncryptionType",
        "source",
    }
)
#: Spec-level names of the deploymentConfiguration members, for messages.
_VMC_SPEC_NAMES = {"imageReference": "image", "nodeAgentSkuId": "nodeAgentSkuId"} | {
    k: k for k in VM_CONFIGURATION_FIELDS
}


def _empty(value: Any) -> bool:
    return value is None or value == {} or value == [] or value == ""


def covers(desired: Any, actual: Any, key: str = "") -> bool:
    """True when everything ``desired`` sets is the same in ``actual`` (see the module docstring)."""
    if desired is None:
        return _empty(actual)
    if isinstance(desired, Mapping):
        if actual is None:
            actual = {}
        if not isinstance(actual, Mapping):
            return False
        return all(
            covers(value, actual.get(k), str(k)) for k, value in desired.items() if k not in SECRET_FIELDS
        )
    if isinstance(desired, list | tuple):
        if actual is None:
            actual = []
        if not isinstance(actual, list | tuple) or len(actual) != len(desired):
            return False
        return all(covers(d, a, key) for d, a in zip(desired, actual, strict=True))
    if isinstance(desired, bool) or isinstance(actual, bool):
        # Batch leaves unset booleans out of its answers; false is their default.
        return (desired is False and actual is None) or desired is actual
    if isinstance(desired, str) and isinstance(actual, str) and key in CASE_INSENSITIVE:
        return desired.lower() == actual.lower()
    return bool(desired == actual)


def _metadata(items: Iterable[Any] | None) -> dict[str, str]:
    return {str(e.get("name")): str(e.get("value", "")) for e in items or () if isinstance(e, Mapping)}


def _identities(identity: Mapping[str, Any] | None) -> set[str]:
    if not identity or str(identity.get("type", "None")).lower() == "none":
        return set()
    return {str(i).lower() for i in (identity.get("userAssignedIdentities") or {})}


@dataclass(frozen=True)
class PoolDiff:
    """What differs; ``live`` / ``empty`` hold the PATCH pieces (``properties`` members, plus
    ``identity`` / ``tags`` at the top level of ``live``)."""

    live: Json = field(default_factory=dict)
    empty: Json = field(default_factory=dict)
    live_fields: tuple[str, ...] = ()
    empty_fields: tuple[str, ...] = ()

    @property
    def changed(self) -> bool:
        return bool(self.live_fields or self.empty_fields)

    def patch(self, include_empty: bool) -> Json:
        """The PATCH body for the live differences (and the empty-pool ones when asked)."""
        body: Json = {k: v for k, v in self.live.items() if k != "properties"}
        props = dict(self.live.get("properties") or {})
        if include_empty:
            props.update(self.empty)
        if props:
            body["properties"] = props
        return body


def _vmc_differences(desired: Mapping[str, Any], actual: Mapping[str, Any]) -> list[str]:
    want = (desired.get("deploymentConfiguration") or {}).get("virtualMachineConfiguration") or {}
    have = (actual.get("deploymentConfiguration") or {}).get("virtualMachineConfiguration") or {}
    return [_VMC_SPEC_NAMES.get(k, k) for k, v in want.items() if not covers(v, have.get(k), k)]


def diff(desired: Mapping[str, Any], actual: Mapping[str, Any], rotated: Iterable[str] = ()) -> PoolDiff:
    """Spec (as ``desired_pool``) vs the pool Azure reports; ``rotated``: spec fields whose Secrets
    changed since they were last sent (they differ even though the values cannot be compared)."""
    want: Mapping[str, Any] = desired.get("properties") or {}
    have: Mapping[str, Any] = actual.get("properties") or {}
    forced = set(rotated)
    live: Json = {}
    empty: Json = {}
    live_fields: list[str] = []
    empty_fields: list[str] = []

    for prop in LIVE_PROPERTIES:
        value = want.get(prop, DEFAULTS.get(prop))
        if prop == "metadata":
            same = _metadata(value) == _metadata(have.get(prop))
        else:
            same = covers(value if not _empty(value) else None, have.get(prop), prop)
        if not same or prop in forced:
            live.setdefault("properties", {})[prop] = value
            live_fields.append(prop)

    if _identities(desired.get("identity")) != _identities(actual.get("identity")) or "identity" in forced:
        live["identity"] = desired.get("identity") or {"type": "None"}
        live_fields.append("identity")
    want_tags = dict(desired.get("tags") or {})
    if want_tags != dict(actual.get("tags") or {}):
        live["tags"] = want_tags
        live_fields.append("tags")

    for prop in EMPTY_POOL_PROPERTIES:
        if prop not in want and prop not in DEFAULTS:
            continue
        value = want.get(prop, DEFAULTS.get(prop))
        if prop == "deploymentConfiguration":
            names = _vmc_differences(want, have)
            names += [n for n in _VMC_SPEC_NAMES.values() if n in forced and n not in names]
            if names:
                empty[prop] = value
                empty_fields.extend(names)
            continue
        if not covers(value if not _empty(value) else None, have.get(prop), prop) or prop in forced:
            empty[prop] = value
            empty_fields.append(prop)
    return PoolDiff(live, empty, tuple(live_fields), tuple(empty_fields))
