"""A BatchPool's spec (plus the Secret values it references) -> the Azure Batch pool it describes.

Contract::

    refs = secret_refs(spec)                       # (secret name, key) pairs the spec references
    desired = desired_pool(meta, spec, image_id, values)   # ARM body: properties, identity, tags

The spec mirrors the Batch management API (2025-06-01) with two deliberate differences, undone
here: the members of ``virtualMachineConfiguration`` sit at spec level, and every secret is a
``{secretRef: {name, key}}`` instead of a literal.  ``desired_pool`` leaves ``scaleSettings`` out:
the resize planner (reconcile/resize.py) owns it.

Secret values only ever live in the returned body, which goes to Azure and nowhere else: never
log it, put it in status, or raise it in an exception message (``MissingSecret`` names the Secret
and key, not the value).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from azbatch_operator.api.batch_pool import BatchPoolSpec
from azbatch_operator.reconcile import names, polling
from azbatch_operator.reconcile.conditions import Reason
from azbatch_operator.reconcile.plan import Plan, stall_plan
from azbatch_operator.settings import Settings

Json = dict[str, Any]
SecretKey = tuple[str, str]

#: Leaf names Batch marks ``x-ms-secret``: write-only, never returned by a GET.
SECRET_FIELDS = frozenset({"password", "accountKey", "sasKey", "sshPrivateKey", "protectedSettings"})
#: The virtualMachineConfiguration members that sit at spec level (spec field -> Azure name).
VM_CONFIGURATION_FIELDS = (
    "containerConfiguration",
    "securityProfile",
    "osDisk",
    "dataDisks",
    "extensions",
    "nodePlacementConfiguration",
    "diskEncryptionConfiguration",
    "licenseType",
    "windowsConfiguration",
)
#: Pool properties that are copied from the spec under the same name.
POOL_PROPERTY_FIELDS = (
    "displayName",
    "startTask",
    "networkConfiguration",
    "mountConfiguration",
    "taskSlotsPerNode",
    "taskSchedulingPolicy",
    "userAccounts",
    "applicationPackages",
    "interNodeCommunication",
    "upgradePolicy",
)


class MissingSecret(Exception):
    """A referenced Secret (or a key in it) does not exist: the pool is Stalled ``SecretNotFound``."""

    def __init__(self, name: str, key: str | None = None) -> None:
        self.name, self.key = name, key
        what = f"Secret {name!r}" if key is None else f"key {key!r} of Secret {name!r}"
        super().__init__(f"{what} does not exist")


class InvalidSecret(Exception):
    """A Secret value that cannot be used where it is referenced (names the place, not the value)."""


def secret_stall(
    meta: names.ObjectMeta, problem: MissingSecret | InvalidSecret, now: datetime, settings: Settings
) -> Plan:
    """Nothing is sent to Azure while a referenced Secret is missing (SecretNotFound: looked at
    again on the fast poll, it may be created any moment) or unusable (InvalidSpec)."""
    gen = meta.generation
    if isinstance(problem, MissingSecret):
        message = (
            f"{problem} in namespace {meta.namespace}: create it (or fix the secretRef); the pool is "
            "created or updated once every referenced Secret exists"
        )
        return stall_plan(gen, now, Reason.SECRET_NOT_FOUND, message, {}, polling.fast(settings))
    return stall_plan(gen, now, Reason.INVALID_SPEC, str(problem), {}, polling.slow(settings))


@dataclass(frozen=True)
class SecretValues:
    """The values the spec's references resolve to, and each Secret's resourceVersion.

    ``versions`` lets the planner notice a rotated Secret without ever comparing (or storing)
    values: Batch does not return secrets on a GET, so the diff cannot see them.
    """

    values: Mapping[SecretKey, str] = field(default_factory=dict)
    versions: Mapping[str, str] = field(default_factory=dict)

    def recorded(self, refs: tuple[SecretKey, ...]) -> dict[str, str]:
        """What status.secretVersions records for these references: ``"name/key" -> resourceVersion``."""
        return {f"{n}/{k}": self.versions.get(n, "") for n, k in refs}


def spec_wire(spec: BatchPoolSpec) -> Json:
    """The spec in its camelCase wire form (what the user wrote, after CRD defaults)."""
    return spec.model_dump(by_alias=True, exclude_none=True, mode="json")


def _walk_refs(node: Any, path: str) -> Iterator[tuple[str, SecretKey]]:
    if isinstance(node, Mapping):
        ref = node.get("secretRef")
        if isinstance(ref, Mapping) and len(node) == 1:
            yield path, (str(ref.get("name", "")), str(ref.get("key", "")))
            return
        for key, child in node.items():
            yield from _walk_refs(child, f"{path}.{key}" if path else str(key))
    elif isinstance(node, list | tuple):
        for i, child in enumerate(node):
            yield from _walk_refs(child, f"{path}[{i}]")


def secret_refs_by_field(spec: BatchPoolSpec) -> dict[str, tuple[SecretKey, ...]]:
    """Top-level spec field -> the secret references inside it (in document order)."""
    out: dict[str, list[SecretKey]] = {}
    for path, ref in _walk_refs(spec_wire(spec), ""):
        top = path.split(".", 1)[0].split("[", 1)[0]
        out.setdefault(top, [])
        if ref not in out[top]:
            out[top].append(ref)
    return {k: tuple(v) for k, v in out.items()}


def secret_refs(spec: BatchPoolSpec) -> tuple[SecretKey, ...]:
    """Every distinct (Secret name, key) the spec references."""
    seen: list[SecretKey] = []
    for refs in secret_refs_by_field(spec).values():
        seen.extend(r for r in refs if r not in seen)
    return tuple(seen)


def _resolve(node: Any, values: Mapping[SecretKey, str], parent_key: str = "") -> Any:
    """A copy of ``node`` with every ``{secretRef}`` replaced by its value."""
    if isinstance(node, Mapping):
        ref = node.get("secretRef")
        if isinstance(ref, Mapping) and len(node) == 1:
            key = (str(ref.get("name", "")), str(ref.get("key", "")))
            if key not in values:
                raise MissingSecret(*key)
            value = values[key]
            if parent_key == "protectedSettings":
                # Batch takes an extension's protected settings as a JSON object.
                try:
                    parsed = json.loads(value)
                except ValueError:
                    parsed = None
                if not isinstance(parsed, dict):
                    raise InvalidSecret(
                        f"key {key[1]!r} of Secret {key[0]!r} (an extension's protectedSettings) "
                        "must hold a JSON object"
                    ) from None
                return parsed
            return value
        return {k: _resolve(v, values, str(k)) for k, v in node.items()}
    if isinstance(node, list | tuple):
        return [_resolve(v, values, parent_key) for v in node]
    return node


def metadata_items(meta: names.ObjectMeta, spec: BatchPoolSpec) -> list[Json]:
    """The pool's metadata: the operator's owner entries first, then the spec's (the CRD reserves
    the ``azbatch.io-`` prefix, so the two never collide)."""
    owner = [{"name": k, "value": v} for k, v in names.owner_tags(meta).items()]
    own_names = {e["name"] for e in owner}
    user = [
        {"name": str(e.get("name")), "value": str(e.get("value", ""))}
        for e in spec.metadata or ()
        if str(e.get("name")) not in own_names
    ]
    return owner + user


def identity_body(spec: BatchPoolSpec) -> Json | None:
    """Azure's identity shape (a map keyed by ARM id) from the spec's list; None when unset."""
    if spec.identity is None or not spec.identity.user_assigned_identities:
        return None
    return {
        "type": "UserAssigned",
        "userAssignedIdentities": {i: {} for i in spec.identity.user_assigned_identities},
    }


def desired_pool(
    meta: names.ObjectMeta,
    spec: BatchPoolSpec,
    image_id: str | None,
    secrets: SecretValues | None = None,
) -> Json:
    """The pool's ARM body without ``scaleSettings`` (raises MissingSecret / InvalidSecret).

    ``image_id`` None (a ManagedImage not resolved this pass) leaves ``imageReference`` out, so the
    diff does not compare it.
    """
    wire = _resolve(spec_wire(spec), (secrets or SecretValues()).values)
    vmc: Json = {"nodeAgentSkuId": spec.node_agent_sku_id}
    if image_id is not None:
        vmc = {"imageReference": {"id": image_id}, **vmc}
    for key in VM_CONFIGURATION_FIELDS:
        if key in wire:
            vmc[key] = wire[key]
    props: Json = {
        "vmSize": spec.vm_size,
        "deploymentConfiguration": {"virtualMachineConfiguration": vmc},
    }
    for key in POOL_PROPERTY_FIELDS:
        if key in wire:
            props[key] = wire[key]
    props["metadata"] = metadata_items(meta, spec)
    body: Json = {"properties": props}
    identity = identity_body(spec)
    if identity is not None:
        body["identity"] = identity
    if spec.tags:
        body["tags"] = dict(spec.tags)
    return body


#: Gallery image definition SecurityType features that admit each pool securityType.
SECURITY_FEATURES = {
    "trustedlaunch": frozenset(
        {"trustedlaunch", "trustedlaunchsupported", "trustedlaunchandconfidentialvmsupported"}
    ),
    "confidentialvm": frozenset(
        {"confidentialvm", "confidentialvmsupported", "trustedlaunchandconfidentialvmsupported"}
    ),
}


def gallery_definition_id(image_id: str) -> str | None:
    """The gallery image definition of a gallery image version (or the definition itself)."""
    low = image_id.lower()
    if "/providers/microsoft.compute/galleries/" not in low or "/images/" not in low:
        return None
    return image_id[: low.index("/versions/")] if "/versions/" in low else image_id


def security_problem(spec: BatchPoolSpec, image_id: str, definition: Mapping[str, Any] | None) -> str | None:
    """Why the pool's securityProfile does not fit its image (None when it does, or is unknown).

    Trusted launch and confidential VMs boot Generation 2 images whose gallery image definition
    declares the matching ``SecurityType`` feature; Batch refuses the pool otherwise."""
    kind = str((spec.security_profile or {}).get("securityType") or "")
    if not kind or definition is None:
        return None
    props: Mapping[str, Any] = definition.get("properties") or {}
    generation = str(props.get("hyperVGeneration") or "V1")
    feature = next(
        (
            str(f.get("value", ""))
            for f in props.get("features") or ()
            if str(f.get("name", "")).lower() == "securitytype"
        ),
        None,
    )
    where = definition.get("id") or gallery_definition_id(image_id) or image_id
    if generation.upper() != "V2":
        return (
            f"securityProfile.securityType {kind} needs a Generation 2 image, but {where} is {generation}: "
            "build the image with hyperVGeneration V2, or drop securityProfile.securityType"
        )
    if (feature or "").lower() not in SECURITY_FEATURES.get(kind.lower(), frozenset()):
        wanted = "TrustedLaunchSupported" if kind.lower() == "trustedlaunch" else "ConfidentialVmSupported"
        return (
            f"securityProfile.securityType {kind} needs an image whose gallery image definition has the "
            f"SecurityType feature {wanted}, but {where} has {feature or 'none'}: publish the image to a "
            f"definition with it (ManagedImage spec.gallery.securityType: {wanted}, on a new "
            "imageDefinition), or drop securityProfile.securityType"
        )
    return None
