"""Disk RP: managed disks (read-only, seeded) and snapshots (create by Copy or Import, delete)."""

from __future__ import annotations

import copy
import uuid

from aiohttp import web

from azuresim.arm import RG, Arm, Ctx, ok
from azuresim.clock import iso
from azuresim.compute.common import (
    T_DISK,
    T_SNAP,
    P,
    begin_delete,
    finish,
    get_or_404,
    list_rg,
    location_of,
    rid,
    view,
)
from azuresim.errors import JSON, ArmError
from azuresim.world import Resource, ResourceGroup, World, region, stable_uuid


def seed_snapshots(world: World, rg: ResourceGroup, doc: JSON) -> None:
    sub, name, loc = rg.subscription, rg.name, rg.location
    now = iso(world.clock.now())
    for s in doc.get("snapshots") or []:
        snap_id = rid(sub, name, "snapshots", s["name"])
        props: JSON = {
            "osType": s.get("osType"),
            "hyperVGeneration": s.get("hyperVGeneration", "V1"),
            "creationData": {"createOption": "Import" if s.get("sourceUri") else "Empty"},
            "diskSizeGB": int(s.get("sizeGB", 64)),
            "diskSizeBytes": int(s.get("sizeGB", 64)) * 1024**3,
            "incremental": bool(s.get("incremental", False)),
            "timeCreated": now,
            "provisioningState": "Succeeded",
            "diskState": "Unattached",
            "uniqueId": stable_uuid(snap_id.lower()),
            "encryption": {"type": "EncryptionAtRestWithPlatformKey"},
        }
        if props["osType"] is None:
            del props["osType"]
        world.put(
            Resource(
                snap_id,
                T_SNAP,
                s["name"],
                region(s.get("location") or loc),
                props,
                tags=dict(s.get("tags") or {}),
                extra={"sku": {"name": "Standard_LRS", "tier": "Standard"}},
            )
        )


def seed_disks(world: World, rg: ResourceGroup, doc: JSON) -> None:
    now = iso(world.clock.now())
    for d in doc.get("disks") or []:
        seed_disk(world, rg.subscription, rg.name, rg.location, d, managed_by=None, now=now)


def seed_disk(
    world: World,
    sub: str,
    rg: str,
    loc: str,
    d: JSON,
    managed_by: str | None,
    now: str,
    os_type: str | None = None,
    encrypted: bool = False,
) -> str:
    disk_id = rid(sub, rg, "disks", d["name"])
    props: JSON = {
        "hyperVGeneration": d.get("hyperVGeneration", "V1"),
        "creationData": {"createOption": "FromImage" if os_type else "Empty"},
        "diskSizeGB": int(d.get("sizeGB", 64)),
        "diskSizeBytes": int(d.get("sizeGB", 64)) * 1024**3,
        "uniqueId": stable_uuid(disk_id.lower()),
        "encryption": {"type": "EncryptionAtRestWithPlatformKey"},
        "timeCreated": now,
        "provisioningState": "Succeeded",
        "diskState": "Attached" if managed_by else "Unattached",
    }
    if os_type or d.get("osType"):
        props["osType"] = os_type or d.get("osType")
    if encrypted or d.get("encrypted"):
        props["encryptionSettingsCollection"] = {
            "enabled": True,
            "encryptionSettingsVersion": "1.1",
            "encryptionSettings": [],
        }
    extra: JSON = {"sku": {"name": d.get("sku", "Premium_LRS"), "tier": "Premium"}}
    if managed_by:
        extra["managedBy"] = managed_by
    world.put(Resource(disk_id, T_DISK, d["name"], loc, props, extra=extra))
    return disk_id


async def disks_get(ctx: Ctx) -> web.StreamResponse:
    p = ctx.params
    return ok(view(ctx, get_or_404(ctx, rid(p["sub"], p["rg"], "disks", p["name"]), T_DISK, p["name"])))


async def disks_list(ctx: Ctx) -> web.StreamResponse:
    return list_rg(ctx, T_DISK)


async def snapshots_get(ctx: Ctx) -> web.StreamResponse:
    p = ctx.params
    return ok(view(ctx, get_or_404(ctx, rid(p["sub"], p["rg"], "snapshots", p["name"]), T_SNAP, p["name"])))


async def snapshots_list(ctx: Ctx) -> web.StreamResponse:
    return list_rg(ctx, T_SNAP)


async def snapshots_put(ctx: Ctx) -> web.StreamResponse:
    p = ctx.params
    body = await ctx.body()
    snap_id = rid(p["sub"], p["rg"], "snapshots", p["name"])
    existing = ctx.world.get(snap_id)
    loc = location_of(ctx, body)
    props_in: JSON = body.get("properties") or {}
    cd: JSON = props_in.get("creationData") or {}
    if existing is not None:
        if existing.properties.get("provisioningState") == "Deleting":
            raise ArmError(409, "OperationNotAllowed", f"Snapshot {p['name']} is being deleted.")
        if (
            cd
            and cd.get("sourceResourceId", "").lower()
            != str(existing.properties.get("creationData", {}).get("sourceResourceId", "")).lower()
        ):
            raise ArmError(
                409,
                "PropertyChangeNotAllowed",
                "Changing property 'creationData' is not allowed.",
                target="creationData",
            )
        existing.tags = dict(body.get("tags") or existing.tags)
        return ok(view(ctx, existing))
    option = str(cd.get("createOption", ""))
    props: JSON = {
        "creationData": copy.deepcopy(cd),
        "incremental": bool(props_in.get("incremental", False)),
        "timeCreated": iso(ctx.world.clock.now()),
        "provisioningState": "Creating",
        "diskState": "Unattached",
        "uniqueId": str(uuid.uuid4()),
        "encryption": {"type": "EncryptionAtRestWithPlatformKey"},
    }
    if option.lower() == "copy":
        src_id = str(cd.get("sourceResourceId", ""))
        src = ctx.world.get(src_id) if src_id else None
        if src is None or src.type not in (T_DISK, T_SNAP):
            raise ArmError(
                404,
                "NotFound",
                f"Resource {src_id or '<missing sourceResourceId>'} is not found.",
                target="creationData.sourceResourceId",
            )
        if src.location != loc:
            raise ArmError(
                400,
                "BadRequest",
                f"The source resource location '{src.location}' must match the snapshot location '{loc}'.",
                target="location",
            )
        for key in ("osType", "hyperVGeneration", "diskSizeGB", "diskSizeBytes"):
            if key in src.properties:
                props[key] = src.properties[key]
        props["creationData"]["sourceUniqueId"] = src.properties.get("uniqueId")
    elif option.lower() == "import":
        if not cd.get("sourceUri"):
            raise ArmError(
                400,
                "InvalidParameter",
                "Required parameter 'sourceUri' is missing (null).",
                target="creationData.sourceUri",
            )
        if not cd.get("storageAccountId"):
            raise ArmError(
                400,
                "InvalidParameter",
                "Required parameter 'storageAccountId' is missing (null).",
                target="creationData.storageAccountId",
            )
        props["diskSizeGB"] = int(props_in.get("diskSizeGB", 64))
    else:
        raise ArmError(
            400,
            "InvalidParameter",
            f"The value '{option}' of parameter 'createOption' is not "
            "supported for snapshots; use Copy or Import.",
            target="creationData.createOption",
        )
    for key in ("osType", "hyperVGeneration", "diskSizeGB"):
        if key in props_in:
            props[key] = props_in[key]
    res = ctx.world.put(
        Resource(
            snap_id,
            T_SNAP,
            p["name"],
            loc,
            props,
            tags=dict(body.get("tags") or {}),
            extra={"sku": body.get("sku") or {"name": "Standard_LRS", "tier": "Standard"}},
        )
    )
    secs = float(ctx.world.cfg("compute").get("snapshotSeconds", 30))
    op = ctx.world.start_operation(snap_id, "create", secs, loc, "Microsoft.Compute", finish())
    return ok(view(ctx, res), status=202, headers=ctx.compute_lro_headers(op, "disk"))


async def snapshots_delete(ctx: Ctx) -> web.StreamResponse:
    p = ctx.params
    res = ctx.world.get(rid(p["sub"], p["rg"], "snapshots", p["name"]))
    if res is None:
        return web.Response(status=204)
    return begin_delete(ctx, res, float(ctx.world.cfg("compute").get("snapshotDeleteSeconds", 10)), "disk")


def register(arm: Arm) -> None:
    rgp = RG + P
    n = "/(?P<name>[^/]+)"
    for method, path, operation, verb, handler, strip in (
        ("GET", "/disks" + n, "Disks_Get", "read", disks_get, 0),
        ("GET", "/disks", "Disks_ListByResourceGroup", "read", disks_list, 1),
        ("GET", "/snapshots" + n, "Snapshots_Get", "read", snapshots_get, 0),
        ("PUT", "/snapshots" + n, "Snapshots_CreateOrUpdate", "write", snapshots_put, 0),
        ("DELETE", "/snapshots" + n, "Snapshots_Delete", "delete", snapshots_delete, 0),
        ("GET", "/snapshots", "Snapshots_ListByResourceGroup", "read", snapshots_list, 1),
    ):
        kind = path.split("/")[1]
        action = f"Microsoft.Compute/{kind}/{verb}"
        arm.add(method, rgp + path, operation, verb, action, "disk", handler, strip)
