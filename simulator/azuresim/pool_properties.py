"""Batch pool properties: validation as Batch does it, which change where, and secret hiding.

Sources: the Batch management API 2025-06-01 (azure-rest-api-specs,
specification/batch/resource-manager/Microsoft.Batch/stable/2025-06-01/BatchManagement.json: types,
enums, required members, x-ms-secret) and Microsoft Learn "Update Batch pool properties"
(applicationPackages, metadata, scaleSettings and startTask change on a pool with nodes; every
other updatable property only when the pool has zero nodes; a PUT on an existing pool replaces
every property, so what it leaves out is removed or reset to its default).

Hooks (azuresim/batch.py): ``validate`` on every PUT/PATCH body, ``check_update`` before an update
is applied, ``apply`` to store it, ``hide_secrets`` on every view; ``seed_resource_group`` adds the
virtual networks, user-assigned identities and storage accounts a world file names.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
import time
import uuid
from collections.abc import Iterable
from typing import Any

from azuresim.clock import iso
from azuresim.errors import JSON, ArmError
from azuresim.world import Resource, ResourceGroup, World, region

T_VNET = "Microsoft.Network/virtualNetworks"
T_SUBNET = "Microsoft.Network/virtualNetworks/subnets"
T_IDENTITY = "Microsoft.ManagedIdentity/userAssignedIdentities"
T_STORAGE = "Microsoft.Storage/storageAccounts"

#: Properties Batch changes on a pool with nodes (Learn; certificates are gone in 2025-06-01).
LIVE = frozenset({"scaleSettings", "startTask", "applicationPackages", "metadata"})
#: Properties Batch changes only on a pool with zero nodes, in the order errors report them.
EMPTY_POOL = (
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
UPDATABLE = LIVE | frozenset(EMPTY_POOL)
#: What a PUT that leaves a property out resets it to.
DEFAULTS: JSON = {
    "interNodeCommunication": "Disabled",
    "taskSlotsPerNode": 1,
    "taskSchedulingPolicy": {"nodeFillType": "Spread"},
}
#: x-ms-secret leaves: accepted, stored, never returned.
SECRET_FIELDS = frozenset({"password", "accountKey", "sasKey", "sshPrivateKey", "protectedSettings"})

_ARM = r"(?i)^/subscriptions/[^/]+/resourceGroups/[^/]+/providers/"
SUBNET_ID = re.compile(_ARM + r"Microsoft\.Network/virtualNetworks/[^/]+/subnets/[^/]+$")
PUBLIC_IP_ID = re.compile(_ARM + r"Microsoft\.Network/publicIPAddresses/[^/]+$")
IDENTITY_ID = re.compile(_ARM + r"Microsoft\.ManagedIdentity/userAssignedIdentities/[^/]+$")
#: An application of a Batch account (the PoolUpdate_OtherProperties example nests it under a pool).
APPLICATION_ID = re.compile(
    _ARM + r"Microsoft\.Batch/batchAccounts/[^/]+(/pools/[^/]+)?/applications/[^/]+(/versions/[^/]+)?$"
)
TRUSTED_LAUNCH_FEATURES = {
    "trustedlaunch",
    "trustedlaunchsupported",
    "trustedlaunchandconfidentialvmsupported",
}
CONFIDENTIAL_FEATURES = {
    "confidentialvm",
    "confidentialvmsupported",
    "trustedlaunchandconfidentialvmsupported",
}


def prop_error(code: str, message: str, prop: str, status: int = 400) -> ArmError:
    """Batch's error shape: the property named in details (never the value: it may be a secret)."""
    return ArmError(
        status,
        code,
        f"{message}\nRequestId:{uuid.uuid4()}\nTime:{iso(time.time())}",
        target="BatchAccount",
        details=[
            {"code": "Reason", "message": message},
            {"code": "PropertyName", "message": prop.rsplit(".", 1)[-1].split("[", 1)[0]},
            {"code": "PropertyPath", "message": f"properties.{prop}"},
        ],
    )


def _invalid(prop: str, why: str) -> ArmError:
    return prop_error("InvalidPropertyValue", f"The value provided for {prop} is invalid: {why}.", prop)


def _missing(prop: str) -> ArmError:
    return prop_error(
        "MissingRequiredProperty", "A required property was not specified in the request body.", prop
    )


# ---------------------------------------------------------------------------- small checks


def _obj(value: Any, prop: str) -> JSON:
    if not isinstance(value, dict):
        raise _invalid(prop, "an object is expected")
    return value


def _list(value: Any, prop: str, most: int | None = None) -> list[Any]:
    if not isinstance(value, list):
        raise _invalid(prop, "an array is expected")
    if most is not None and len(value) > most:
        raise _invalid(prop, f"at most {most} items are allowed")
    return value


def _str(node: JSON, key: str, prop: str, required: bool = False, most: int | None = None) -> str | None:
    value = node.get(key)
    if value is None:
        if required:
            raise _missing(f"{prop}.{key}")
        return None
    if not isinstance(value, str) or (required and not value):
        raise _invalid(f"{prop}.{key}", "a non-empty string is expected")
    if most is not None and len(value) > most:
        raise _invalid(f"{prop}.{key}", f"at most {most} characters are allowed")
    return value


def _int(node: JSON, key: str, prop: str, lo: int, hi: int, required: bool = False) -> int | None:
    value = node.get(key)
    if value is None:
        if required:
            raise _missing(f"{prop}.{key}")
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise _invalid(f"{prop}.{key}", f"an integer from {lo} to {hi} is expected")
    return value


def _bool(node: JSON, key: str, prop: str) -> None:
    if key in node and not isinstance(node[key], bool):
        raise _invalid(f"{prop}.{key}", "true or false is expected")


def _enum(node: JSON, key: str, prop: str, values: Iterable[str], required: bool = False) -> str | None:
    value = _str(node, key, prop, required)
    allowed = list(values)
    if value is not None and value.lower() not in {v.lower() for v in allowed}:
        raise _invalid(f"{prop}.{key}", f"one of {', '.join(allowed)} is expected")
    return value


def _exactly_one(node: JSON, keys: tuple[str, ...], prop: str) -> str:
    present = [k for k in keys if node.get(k) is not None]
    if len(present) != 1:
        raise _invalid(prop, f"exactly one of {', '.join(keys)} must be specified")
    return present[0]


def _secret(node: JSON, key: str, prop: str, required: bool = False) -> None:
    value = node.get(key)
    if value is None:
        if required:
            raise _missing(f"{prop}.{key}")
        return
    if not isinstance(value, str) or not value:
        raise _invalid(f"{prop}.{key}", "a non-empty string is expected")


class _Context:
    """What cross-field checks need: the pool's identities, user accounts, account and world."""

    def __init__(self, world: World, account: Resource, props: JSON, identity: JSON | None) -> None:
        self.world, self.account, self.props = world, account, props
        ids = (identity or {}).get("userAssignedIdentities") or {}
        self.identities = {str(k).lower() for k in ids} if isinstance(ids, dict) else set()

    def identity_ref(self, node: JSON, key: str, prop: str) -> None:
        ref = node.get(key)
        if ref is None:
            return
        rid = _str(_obj(ref, f"{prop}.{key}"), "resourceId", f"{prop}.{key}", required=True) or ""
        if rid.lower() not in self.identities:
            raise _invalid(
                f"{prop}.{key}.resourceId",
                "the identity must be one of the pool's userAssignedIdentities",
            )


# ---------------------------------------------------------------------------- per property


def _start_task(task: JSON, ctx: _Context, prop: str = "startTask") -> None:
    if not task:
        return  # {} removes the start task (PATCH).
    _str(task, "commandLine", prop, required=True, most=32768)
    for i, f in enumerate(_list(task.get("resourceFiles", []), f"{prop}.resourceFiles", 100)):
        p = f"{prop}.resourceFiles[{i}]"
        f = _obj(f, p)
        source = _exactly_one(f, ("autoStorageContainerName", "storageContainerUrl", "httpUrl"), p)
        if source == "httpUrl" and not f.get("filePath"):
            raise _missing(f"{p}.filePath")
        if f.get("blobPrefix") is not None and source == "httpUrl":
            raise _invalid(f"{p}.blobPrefix", "blobPrefix is only valid with a container source")
        path = _str(f, "filePath", p) or ""
        if path.startswith(("/", "\\")) or ".." in re.split(r"[/\\]", path):
            raise _invalid(f"{p}.filePath", "the path must stay inside the task's working directory")
        ctx.identity_ref(f, "identityReference", p)
    names = [
        str(e.get("name")) for e in _list(task.get("environmentSettings", []), f"{prop}.environmentSettings")
    ]
    if any(not n or n == "None" for n in names) or len(set(names)) != len(names):
        raise _invalid(f"{prop}.environmentSettings", "every setting needs a unique name")
    _int(task, "maxTaskRetryCount", prop, -1, 100)
    _bool(task, "waitForSuccess", prop)
    identity = task.get("userIdentity")
    if identity is not None:
        identity = _obj(identity, f"{prop}.userIdentity")
        which = _exactly_one(identity, ("userName", "autoUser"), f"{prop}.userIdentity")
        if which == "autoUser":
            auto = _obj(identity["autoUser"], f"{prop}.userIdentity.autoUser")
            _enum(auto, "scope", f"{prop}.userIdentity.autoUser", ("Task", "Pool"))
            _enum(auto, "elevationLevel", f"{prop}.userIdentity.autoUser", ("NonAdmin", "Admin"))
        else:
            users = {str(u.get("name")) for u in ctx.props.get("userAccounts") or []}
            if identity["userName"] not in users:
                raise _invalid(
                    f"{prop}.userIdentity.userName", "the user must be one of the pool's userAccounts"
                )
    settings = task.get("containerSettings")
    if settings is not None:
        settings = _obj(settings, f"{prop}.containerSettings")
        vmc = (ctx.props.get("deploymentConfiguration") or {}).get("virtualMachineConfiguration") or {}
        if not vmc.get("containerConfiguration"):
            raise _invalid(f"{prop}.containerSettings", "the pool has no containerConfiguration")
        _str(settings, "imageName", f"{prop}.containerSettings", required=True)
        _enum(
            settings,
            "workingDirectory",
            f"{prop}.containerSettings",
            ("TaskWorkingDirectory", "ContainerImageDefault"),
        )
        if settings.get("registry") is not None:
            _registry(
                _obj(settings["registry"], f"{prop}.containerSettings.registry"),
                ctx,
                f"{prop}.containerSettings.registry",
            )


def _registry(reg: JSON, ctx: _Context, prop: str) -> None:
    has_user = reg.get("username") is not None
    if has_user != (reg.get("password") is not None):
        raise _invalid(prop, "username and password must be specified together")
    if has_user and reg.get("identityReference") is not None:
        raise _invalid(prop, "username/password and identityReference are mutually exclusive")
    _secret(reg, "password", prop)
    ctx.identity_ref(reg, "identityReference", prop)


def _network(net: JSON, ctx: _Context) -> None:
    prop = "networkConfiguration"
    subnet = _str(net, "subnetId", prop)
    if subnet is not None:
        if not SUBNET_ID.match(subnet):
            raise _invalid(f"{prop}.subnetId", "a virtual network subnet ARM resource id is expected")
        if ctx.world.get(subnet) is None:
            raise prop_error(
                "InvalidPropertyValue",
                "The specified subnet does not exist or the Batch service cannot access it.",
                f"{prop}.subnetId",
            )
        vnet = ctx.world.get(subnet.rsplit("/subnets/", 1)[0])
        if vnet is not None and vnet.location and vnet.location != ctx.account.location:
            raise _invalid(f"{prop}.subnetId", "the virtual network must be in the Batch account's region")
    scope = _enum(net, "dynamicVnetAssignmentScope", prop, ("none", "job"))
    if scope == "job" and subnet is None:
        raise _missing(f"{prop}.subnetId")
    _bool(net, "enableAcceleratedNetworking", prop)
    public = net.get("publicIPAddressConfiguration")
    provision = "BatchManaged"
    if public is not None:
        public = _obj(public, f"{prop}.publicIPAddressConfiguration")
        provision = (
            _enum(
                public,
                "provision",
                f"{prop}.publicIPAddressConfiguration",
                ("BatchManaged", "UserManaged", "NoPublicIPAddresses"),
            )
            or "BatchManaged"
        )
        ids = public.get("ipAddressIds")
        if ids is not None and provision.lower() != "usermanaged":
            raise _invalid(
                f"{prop}.publicIPAddressConfiguration.ipAddressIds", "ipAddressIds need provision UserManaged"
            )
        if provision.lower() == "usermanaged" and not ids:
            raise _missing(f"{prop}.publicIPAddressConfiguration.ipAddressIds")
        for ip in ids or []:
            if not isinstance(ip, str) or not PUBLIC_IP_ID.match(ip):
                raise _invalid(
                    f"{prop}.publicIPAddressConfiguration.ipAddressIds",
                    "public IP address ARM ids are expected",
                )
    endpoints = net.get("endpointConfiguration")
    if endpoints is not None:
        if provision.lower() == "nopublicipaddresses":
            raise _invalid(f"{prop}.endpointConfiguration", "not allowed with NoPublicIPAddresses")
        pools = _list(
            _obj(endpoints, f"{prop}.endpointConfiguration").get("inboundNatPools"),
            f"{prop}.endpointConfiguration.inboundNatPools",
            5,
        )
        rules = 0
        for i, nat in enumerate(pools):
            p = f"{prop}.endpointConfiguration.inboundNatPools[{i}]"
            nat = _obj(nat, p)
            _str(nat, "name", p, required=True, most=77)
            _enum(nat, "protocol", p, ("TCP", "UDP"), required=True)
            backend = _int(nat, "backendPort", p, 1, 65535, required=True)
            if backend in (29876, 29877):
                raise _invalid(f"{p}.backendPort", "ports 29876 and 29877 are reserved")
            lo = _int(nat, "frontendPortRangeStart", p, 1, 65534, required=True) or 0
            hi = _int(nat, "frontendPortRangeEnd", p, 1, 65534, required=True) or 0
            if lo > hi or not (hi < 50000 or lo > 55000):
                raise _invalid(
                    p, "the frontend port range is inverted or overlaps the reserved ports 50000-55000"
                )
            for j, rule in enumerate(
                _list(nat.get("networkSecurityGroupRules", []), f"{p}.networkSecurityGroupRules")
            ):
                rp = f"{p}.networkSecurityGroupRules[{j}]"
                rule = _obj(rule, rp)
                _int(rule, "priority", rp, 150, 4096, required=True)
                _enum(rule, "access", rp, ("Allow", "Deny"), required=True)
                _str(rule, "sourceAddressPrefix", rp, required=True)
                rules += 1
        if rules > 25:
            raise _invalid(
                f"{prop}.endpointConfiguration", "at most 25 network security group rules are allowed"
            )


def _mounts(mounts: list[Any], ctx: _Context) -> None:
    for i, m in enumerate(_list(mounts, "mountConfiguration", 10)):
        p = f"mountConfiguration[{i}]"
        m = _obj(m, p)
        kind = _exactly_one(
            m,
            (
                "azureBlobFileSystemConfiguration",
                "azureFileShareConfiguration",
                "nfsMountConfiguration",
                "cifsMountConfiguration",
            ),
            p,
        )
        cfg = _obj(m[kind], f"{p}.{kind}")
        q = f"{p}.{kind}"
        path = _str(cfg, "relativeMountPath", q, required=True) or ""
        if path.startswith(("/", "\\")) or ".." in re.split(r"[/\\]", path):
            raise _invalid(
                f"{q}.relativeMountPath", "a relative path inside the mounts directory is expected"
            )
        if kind == "azureBlobFileSystemConfiguration":
            _str(cfg, "accountName", q, required=True)
            _str(cfg, "containerName", q, required=True)
            _exactly_one(cfg, ("accountKey", "sasKey", "identityReference"), q)
            _secret(cfg, "accountKey", q)
            _secret(cfg, "sasKey", q)
            ctx.identity_ref(cfg, "identityReference", q)
        elif kind == "azureFileShareConfiguration":
            _str(cfg, "accountName", q, required=True)
            url = _str(cfg, "azureFileUrl", q, required=True) or ""
            if not url.lower().startswith("https://"):
                raise _invalid(f"{q}.azureFileUrl", "an https URL of the file share is expected")
            _secret(cfg, "accountKey", q, required=True)
        elif kind == "nfsMountConfiguration":
            _str(cfg, "source", q, required=True)
        else:
            _str(cfg, "userName", q, required=True)
            _str(cfg, "source", q, required=True)
            _secret(cfg, "password", q, required=True)


def _vm_configuration(vmc: JSON, ctx: _Context, node_agent_windows: bool) -> None:
    prop = "deploymentConfiguration.virtualMachineConfiguration"
    containers = vmc.get("containerConfiguration")
    if containers is not None:
        containers = _obj(containers, f"{prop}.containerConfiguration")
        _enum(
            containers,
            "type",
            f"{prop}.containerConfiguration",
            ("DockerCompatible", "CriCompatible"),
            required=True,
        )
        for i, reg in enumerate(
            _list(
                containers.get("containerRegistries", []),
                f"{prop}.containerConfiguration.containerRegistries",
            )
        ):
            p = f"{prop}.containerConfiguration.containerRegistries[{i}]"
            _registry(_obj(reg, p), ctx, p)
    security = vmc.get("securityProfile")
    if security is not None:
        security = _obj(security, f"{prop}.securityProfile")
        kind = _enum(security, "securityType", f"{prop}.securityProfile", ("trustedLaunch", "confidentialVM"))
        if security.get("uefiSettings") is not None and kind is None:
            raise _missing(f"{prop}.securityProfile.securityType")
        _bool(security, "encryptionAtHost", f"{prop}.securityProfile")
        if kind is not None:
            _security_fits_image(kind, vmc, ctx)
    disk = vmc.get("osDisk")
    if disk is not None:
        disk = _obj(disk, f"{prop}.osDisk")
        _enum(disk, "caching", f"{prop}.osDisk", ("None", "ReadOnly", "ReadWrite"))
        _int(disk, "diskSizeGB", f"{prop}.osDisk", 1, 4095)
        eph = disk.get("ephemeralOSDiskSettings")
        if eph is not None:
            _enum(
                _obj(eph, f"{prop}.osDisk.ephemeralOSDiskSettings"),
                "placement",
                f"{prop}.osDisk.ephemeralOSDiskSettings",
                ("CacheDisk",),
            )
        managed = disk.get("managedDisk")
        if managed is not None:
            _enum(
                _obj(managed, f"{prop}.osDisk.managedDisk"),
                "storageAccountType",
                f"{prop}.osDisk.managedDisk",
                ("Standard_LRS", "Premium_LRS", "StandardSSD_LRS"),
            )
    luns: set[int] = set()
    for i, d in enumerate(_list(vmc.get("dataDisks", []), f"{prop}.dataDisks", 64)):
        p = f"{prop}.dataDisks[{i}]"
        d = _obj(d, p)
        lun = _int(d, "lun", p, 0, 63, required=True)
        _int(d, "diskSizeGB", p, 1, 32767, required=True)
        _enum(d, "caching", p, ("None", "ReadOnly", "ReadWrite"))
        _enum(d, "storageAccountType", p, ("Standard_LRS", "Premium_LRS", "StandardSSD_LRS"))
        if lun in luns:
            raise _invalid(f"{p}.lun", "every data disk needs a distinct lun")
        luns.add(lun or 0)
    for i, ext in enumerate(_list(vmc.get("extensions", []), f"{prop}.extensions")):
        p = f"{prop}.extensions[{i}]"
        ext = _obj(ext, p)
        for key in ("name", "publisher", "type"):
            _str(ext, key, p, required=True)
        if ext.get("protectedSettings") is not None:
            _obj(ext["protectedSettings"], f"{p}.protectedSettings")
    placement = vmc.get("nodePlacementConfiguration")
    if placement is not None:
        _enum(
            _obj(placement, f"{prop}.nodePlacementConfiguration"),
            "policy",
            f"{prop}.nodePlacementConfiguration",
            ("Regional", "Zonal"),
        )
    encryption = vmc.get("diskEncryptionConfiguration")
    if encryption is not None:
        targets = _list(
            _obj(encryption, f"{prop}.diskEncryptionConfiguration").get("targets", []),
            f"{prop}.diskEncryptionConfiguration.targets",
        )
        if any(str(t) not in ("OsDisk", "TemporaryDisk") for t in targets) or (
            not node_agent_windows and any(str(t) != "TemporaryDisk" for t in targets)
        ):
            raise _invalid(
                f"{prop}.diskEncryptionConfiguration.targets", "Linux pools only support TemporaryDisk"
            )
    if vmc.get("windowsConfiguration") is not None and not node_agent_windows:
        raise _invalid(f"{prop}.windowsConfiguration", "only valid for Windows images")
    if vmc.get("licenseType") is not None:
        if not node_agent_windows:
            raise _invalid(f"{prop}.licenseType", "only valid for Windows images")
        _enum(vmc, "licenseType", prop, ("Windows_Server", "Windows_Client"))


def _security_fits_image(kind: str, vmc: JSON, ctx: _Context) -> None:
    """Trusted launch / confidential VMs need a Gen2 image whose gallery definition declares them."""
    image_id = str((vmc.get("imageReference") or {}).get("id") or "")
    low = image_id.lower()
    if "/providers/microsoft.compute/galleries/" not in low:
        return
    definition_id = image_id[: low.index("/versions/")] if "/versions/" in low else image_id
    definition = ctx.world.get(definition_id)
    if definition is None:
        return  # The image check reports a missing image.
    features = {
        str(f.get("value", "")).lower()
        for f in definition.properties.get("features") or []
        if str(f.get("name", "")).lower() == "securitytype"
    }
    wanted = TRUSTED_LAUNCH_FEATURES if kind.lower() == "trustedlaunch" else CONFIDENTIAL_FEATURES
    gen2 = str(definition.properties.get("hyperVGeneration", "V1")).upper() == "V2"
    if not gen2 or not features & wanted:
        raise prop_error(
            "InvalidPropertyValue",
            f"The securityType '{kind}' is not supported by the image '{image_id}': it needs a Generation 2 "
            "image whose gallery image definition has the SecurityType feature for it.",
            "deploymentConfiguration.virtualMachineConfiguration.securityProfile.securityType",
        )


def _user_accounts(users: list[Any]) -> None:
    seen: set[str] = set()
    for i, u in enumerate(_list(users, "userAccounts")):
        p = f"userAccounts[{i}]"
        u = _obj(u, p)
        name = _str(u, "name", p, required=True, most=20) or ""
        if name.lower() in seen:
            raise _invalid(f"{p}.name", "user names must be unique")
        seen.add(name.lower())
        _secret(u, "password", p, required=True)
        _enum(u, "elevationLevel", p, ("NonAdmin", "Admin"))
        linux = u.get("linuxUserConfiguration")
        if linux is not None:
            linux = _obj(linux, f"{p}.linuxUserConfiguration")
            if (linux.get("uid") is None) != (linux.get("gid") is None):
                raise _invalid(f"{p}.linuxUserConfiguration", "uid and gid must be specified together")
            _secret(linux, "sshPrivateKey", f"{p}.linuxUserConfiguration")
        windows = u.get("windowsUserConfiguration")
        if windows is not None:
            _enum(
                _obj(windows, f"{p}.windowsUserConfiguration"),
                "loginMode",
                f"{p}.windowsUserConfiguration",
                ("Batch", "Interactive"),
            )


def _identity(world: World, identity: JSON | None) -> None:
    if identity is None:
        return
    identity = _obj(identity, "identity")
    kind = _enum(identity, "type", "identity", ("UserAssigned", "None"), required=True)
    ids = identity.get("userAssignedIdentities")
    if kind == "UserAssigned":
        if not isinstance(ids, dict) or not ids:
            raise _missing("identity.userAssignedIdentities")
        for rid in ids:
            if not IDENTITY_ID.match(str(rid)):
                raise _invalid(
                    "identity.userAssignedIdentities", "user-assigned identity ARM ids are expected"
                )
            if world.get(str(rid)) is None:
                raise ArmError(
                    400,
                    "InvalidUserAssignedIdentity",
                    f"The user-assigned identity '{rid}' does not exist or Batch cannot access it.",
                    target="identity",
                )


def validate(
    world: World, account: Resource, props: JSON, identity: JSON | None, current: JSON | None = None
) -> None:
    """Check a PUT or PATCH body as Batch does; ``current`` (PATCH) fills what the body leaves out
    so cross-field rules (identity references, start task users) see the pool as it will be."""
    merged = {**(current or {}), **props}
    ctx = _Context(world, account, merged, identity)
    vmc = (merged.get("deploymentConfiguration") or {}).get("virtualMachineConfiguration") or {}
    windows = str(vmc.get("nodeAgentSkuId", "")).lower().startswith("batch.node.windows")
    if "displayName" in props:
        _str(props, "displayName", "", most=1024)
    if "vmSize" in props and (not isinstance(props["vmSize"], str) or not props["vmSize"]):
        raise _invalid("vmSize", "a VM size is expected")
    if "deploymentConfiguration" in props:
        dc = _obj(props["deploymentConfiguration"], "deploymentConfiguration")
        vm = _obj(
            dc.get("virtualMachineConfiguration"), "deploymentConfiguration.virtualMachineConfiguration"
        )
        _str(vm, "nodeAgentSkuId", "deploymentConfiguration.virtualMachineConfiguration", required=True)
        _vm_configuration(vm, ctx, windows)
    if "interNodeCommunication" in props:
        _enum(props, "interNodeCommunication", "", ("Enabled", "Disabled"))
    if "taskSlotsPerNode" in props:
        from azuresim.allocation import vm_cores

        cores = vm_cores(str(merged.get("vmSize", "")))
        _int(props, "taskSlotsPerNode", "", 1, min(256, 4 * cores))
    if props.get("taskSchedulingPolicy") is not None:
        policy = _obj(props["taskSchedulingPolicy"], "taskSchedulingPolicy")
        _enum(policy, "nodeFillType", "taskSchedulingPolicy", ("Spread", "Pack"), required=True)
        _enum(policy, "jobDefaultOrder", "taskSchedulingPolicy", ("None", "CreationTime"))
    if props.get("userAccounts") is not None:
        _user_accounts(props["userAccounts"])
    if props.get("networkConfiguration") is not None:
        _network(_obj(props["networkConfiguration"], "networkConfiguration"), ctx)
    if props.get("mountConfiguration") is not None:
        _mounts(props["mountConfiguration"], ctx)
    if props.get("startTask") is not None:
        _start_task(_obj(props["startTask"], "startTask"), ctx)
    if props.get("applicationPackages") is not None:
        for i, pkg in enumerate(_list(props["applicationPackages"], "applicationPackages", 10)):
            ident = (
                _str(_obj(pkg, f"applicationPackages[{i}]"), "id", f"applicationPackages[{i}]", required=True)
                or ""
            )
            if not APPLICATION_ID.match(ident):
                raise ArmError(
                    409,
                    "InvalidApplicationPackageReferences",
                    "One or more of the specified application package references are invalid.",
                    target="applicationPackages",
                )
    if props.get("metadata") is not None:
        for i, item in enumerate(_list(props["metadata"], "metadata")):
            item = _obj(item, f"metadata[{i}]")
            _str(item, "name", f"metadata[{i}]", required=True)
            if not isinstance(item.get("value"), str):
                raise _missing(f"metadata[{i}].value")
    if props.get("upgradePolicy") is not None:
        policy = _obj(props["upgradePolicy"], "upgradePolicy")
        _enum(policy, "mode", "upgradePolicy", ("automatic", "manual", "rolling"), required=True)
        rolling = policy.get("rollingUpgradePolicy")
        if rolling is not None:
            rolling = _obj(rolling, "upgradePolicy.rollingUpgradePolicy")
            _int(rolling, "maxBatchInstancePercent", "upgradePolicy.rollingUpgradePolicy", 5, 100)
            _int(rolling, "maxUnhealthyInstancePercent", "upgradePolicy.rollingUpgradePolicy", 5, 100)
            _int(rolling, "maxUnhealthyUpgradedInstancePercent", "upgradePolicy.rollingUpgradePolicy", 0, 100)
    _identity(world, identity)


# ---------------------------------------------------------------------------- updates


def has_nodes(res: Resource) -> bool:
    """Batch's "the pool is not empty": nodes now, or a resize that may bring some."""
    props = res.properties
    nodes = int(props.get("currentDedicatedNodes", 0)) + int(props.get("currentLowPriorityNodes", 0))
    return nodes > 0 or props.get("allocationState") != "Steady"


def check_update(res: Resource, props_in: JSON) -> None:
    """PropertyCannotBeUpdated for an empty-pool property sent to a pool with nodes."""
    if not has_nodes(res):
        return
    for prop in EMPTY_POOL:
        if prop in props_in:
            raise prop_error(
                "PropertyCannotBeUpdated",
                f"The property '{prop}' can only be updated when the pool has no compute nodes "
                "(resize it to 0 nodes first).",
                prop,
            )


def apply(res: Resource, props_in: JSON, body: JSON, *, replace: bool) -> None:
    """Store an update: PATCH sets what it names (``startTask: {}`` removes it); a PUT replaces
    every updatable property (left out: removed, or reset to Batch's default)."""
    props = res.properties
    for key in sorted(UPDATABLE - {"scaleSettings"}):
        if key in props_in:
            value = copy.deepcopy(props_in[key])
            if key == "startTask" and not value:
                props.pop(key, None)
            else:
                props[key] = value
        elif replace:
            if key in DEFAULTS:
                props[key] = copy.deepcopy(DEFAULTS[key])
            else:
                props.pop(key, None)
    if "identity" in body:
        identity = copy.deepcopy(body.get("identity") or {"type": "None"})
        if str(identity.get("type", "")).lower() == "none":
            res.extra.pop("identity", None)
        else:
            res.extra["identity"] = _identity_view(identity)
    elif replace:
        res.extra.pop("identity", None)


def _identity_view(identity: JSON) -> JSON:
    """Azure fills principalId / clientId of every identity."""
    ids = identity.get("userAssignedIdentities") or {}
    return {
        "type": identity.get("type", "UserAssigned"),
        "userAssignedIdentities": {
            rid: {
                "principalId": str(uuid.uuid5(uuid.NAMESPACE_URL, rid.lower())),
                "clientId": str(uuid.uuid5(uuid.NAMESPACE_DNS, rid.lower())),
            }
            for rid in ids
        },
    }


def on_create(res: Resource, body: JSON) -> None:
    if body.get("identity") and str(body["identity"].get("type", "")).lower() != "none":
        res.extra["identity"] = _identity_view(body["identity"])
    else:
        res.extra.pop("identity", None)


def hide_secrets(node: Any) -> Any:
    """A copy without x-ms-secret leaves (Batch never returns them)."""
    if isinstance(node, dict):
        return {k: hide_secrets(v) for k, v in node.items() if k not in SECRET_FIELDS}
    if isinstance(node, list):
        return [hide_secrets(v) for v in node]
    return node


# ---------------------------------------------------------------------------- seeding


def seed_resource_group(world: World, rg: ResourceGroup, doc: JSON) -> None:
    """virtualNetworks (with subnets), userAssignedIdentities and storageAccounts of a world file."""
    base = rg.id
    loc = region(rg.location)
    for vnet in doc.get("virtualNetworks") or []:
        vid = f"{base}/providers/{T_VNET}/{vnet['name']}"
        vloc = region(vnet.get("location") or loc)
        if not world.exists(vid):
            world.put(Resource(vid, T_VNET, vnet["name"], vloc, {"provisioningState": "Succeeded"}))
        for sub in vnet.get("subnets") or []:
            sid = f"{vid}/subnets/{sub['name']}"
            if not world.exists(sid):
                world.put(Resource(sid, T_SUBNET, sub["name"], vloc, {"provisioningState": "Succeeded"}))
    for ident in doc.get("userAssignedIdentities") or []:
        iid = f"{base}/providers/{T_IDENTITY}/{ident['name']}"
        if not world.exists(iid):
            props = {
                "principalId": str(uuid.uuid5(uuid.NAMESPACE_URL, iid.lower())),
                "clientId": str(uuid.uuid5(uuid.NAMESPACE_DNS, iid.lower())),
            }
            world.put(Resource(iid, T_IDENTITY, ident["name"], loc, props))
    for acct in doc.get("storageAccounts") or []:
        aid = f"{base}/providers/{T_STORAGE}/{acct['name']}"
        if not world.exists(aid):
            storage: JSON = {
                "containers": list(acct.get("containers") or []),
                "provisioningState": "Succeeded",
            }
            world.put(Resource(aid, T_STORAGE, acct["name"], loc, storage))


def secret_digests(node: Any, path: str = "") -> dict[str, str]:
    """SHA-256 of every stored secret leaf by JSON path: the admin API shows these (never the
    values) so a test can check which secret Azure holds without printing it."""
    out: dict[str, str] = {}
    if isinstance(node, dict):
        for key, value in node.items():
            here = f"{path}.{key}" if path else str(key)
            if key in SECRET_FIELDS:
                text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
                out[here] = hashlib.sha256(text.encode()).hexdigest()
            else:
                out.update(secret_digests(value, here))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            out.update(secret_digests(value, f"{path}[{i}]"))
    return out
