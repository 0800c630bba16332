"""Compute RP: managed images (from a snapshot, a managed disk, a blob or a VM)."""

from __future__ import annotations

import copy
from typing import Any

from aiohttp import web

from azuresim.arm import RG, Arm, Ctx, ok
from azuresim.compute.common import (
    T_DISK,
    T_IMAGE,
    T_SNAP,
    T_VM,
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
from azuresim.world import Resource, ResourceGroup, World, region


def seed_images(world: World, rg: ResourceGroup, doc: JSON) -> None:
    sub, name, loc = rg.subscription, rg.name, rg.location
    for img in doc.get("images") or []:
        image_id = rid(sub, name, "images", img["name"])
        os_disk: JSON = {
            "osType": img.get("osType", "Linux"),
            "osState": img.get("osState", "Generalized"),
            "caching": "ReadWrite",
            "storageAccountType": "Standard_LRS",
            "diskSizeGB": int(img.get("sizeGB", 64)),
        }
        if img.get("snapshot"):
            os_disk["snapshot"] = {"id": img["snapshot"]}
        world.put(
            Resource(
                image_id,
                T_IMAGE,
                img["name"],
                region(img.get("location") or loc),
                {
                    "storageProfile": {"osDisk": os_disk, "dataDisks": [], "zoneResilient": False},
                    "provisioningState": "Succeeded",
                    "hyperVGeneration": img.get("hyperVGeneration", "V1"),
                },
            )
        )


async def images_get(ctx: Ctx) -> web.StreamResponse:
    p = ctx.params
    return ok(view(ctx, get_or_404(ctx, rid(p["sub"], p["rg"], "images", p["name"]), T_IMAGE, p["name"])))


async def images_list(ctx: Ctx) -> web.StreamResponse:
    return list_rg(ctx, T_IMAGE)


def _check_source(ctx: Ctx, ref: Any, target: str, loc: str, allowed: tuple[str, ...]) -> Resource | None:
    if not isinstance(ref, dict) or not ref.get("id"):
        return None
    src = ctx.world.get(str(ref["id"]))
    if src is None or src.type not in allowed:
        raise ArmError(
            404,
            "NotFound",
            f"The resource '{ref['id']}' referenced by '{target}' was not found.",
            target=target,
        )
    if src.location != loc:
        raise ArmError(
            400,
            "InvalidParameter",
            f"Source '{src.id}' is in location '{src.location}'; it must be "
            f"in the same location as the image ('{loc}').",
            target=target,
        )
    return src


async def images_put(ctx: Ctx) -> web.StreamResponse:
    p = ctx.params
    body = await ctx.body()
    image_id = rid(p["sub"], p["rg"], "images", p["name"])
    loc = location_of(ctx, body)
    props_in: JSON = body.get("properties") or {}
    sp: JSON = props_in.get("storageProfile") or {}
    existing = ctx.world.get(image_id)
    if existing is not None:
        if existing.properties.get("provisioningState") == "Deleting":
            raise ArmError(409, "OperationNotAllowed", f"Image {p['name']} is being deleted.")
        if sp and _norm(sp.get("osDisk")) != _norm(
            existing.properties["storageProfile"].get("osDisk"), sp.get("osDisk")
        ):
            raise ArmError(
                409,
                "PropertyChangeNotAllowed",
                "Changing property 'storageProfile.osDisk' is not allowed.",
                target="storageProfile.osDisk",
            )
        existing.tags = dict(body.get("tags") or existing.tags)
        return ok(view(ctx, existing))
    src_vm = props_in.get("sourceVirtualMachine")
    os_in: JSON = sp.get("osDisk") or {}
    if not os_in and not src_vm:
        raise ArmError(
            400,
            "InvalidParameter",
            "Required parameter 'storageProfile.osDisk' is missing (null).",
            target="storageProfile.osDisk",
        )
    if src_vm:
        _check_source(ctx, src_vm, "sourceVirtualMachine", loc, (T_VM,))
    os_disk = copy.deepcopy(os_in)
    if os_in:
        if not os_in.get("osType") or not os_in.get("osState"):
            raise ArmError(
                400,
                "InvalidParameter",
                "Required parameters 'osType' and 'osState' must be set.",
                target="storageProfile.osDisk",
            )
        src = _check_source(
            ctx, os_in.get("snapshot"), "storageProfile.osDisk.snapshot.id", loc, (T_SNAP,)
        ) or _check_source(
            ctx, os_in.get("managedDisk"), "storageProfile.osDisk.managedDisk.id", loc, (T_DISK,)
        )
        if src is None and not os_in.get("blobUri"):
            raise ArmError(
                400,
                "InvalidParameter",
                "One of 'snapshot', 'managedDisk' or 'blobUri' must be set for the OS disk.",
                target="storageProfile.osDisk",
            )
        os_disk.setdefault("caching", "ReadWrite")
        os_disk.setdefault("storageAccountType", "Standard_LRS")
        if src is not None:
            os_disk.setdefault("diskSizeGB", src.properties.get("diskSizeGB"))
    data_disks: list[JSON] = []
    for i, dd in enumerate(sp.get("dataDisks") or []):
        src = _check_source(
            ctx, dd.get("snapshot"), f"storageProfile.dataDisks[{i}].snapshot.id", loc, (T_SNAP,)
        ) or _check_source(
            ctx, dd.get("managedDisk"), f"storageProfile.dataDisks[{i}].managedDisk.id", loc, (T_DISK,)
        )
        entry = copy.deepcopy(dd)
        entry.setdefault("caching", "None")
        entry.setdefault("storageAccountType", "Standard_LRS")
        if src is not None:
            entry.setdefault("diskSizeGB", src.properties.get("diskSizeGB"))
        data_disks.append(entry)
    props: JSON = {
        "storageProfile": {
            "osDisk": os_disk,
            "dataDisks": data_disks,
            "zoneResilient": bool(sp.get("zoneResilient", False)),
        },
        "provisioningState": "Creating",
        "hyperVGeneration": props_in.get("hyperVGeneration", "V1"),
    }
    if src_vm:
        props["sourceVirtualMachine"] = {"id": src_vm["id"]}
    res = ctx.world.put(Resource(image_id, T_IMAGE, p["name"], loc, props, tags=dict(body.get("tags") or {})))
    secs = float(ctx.world.cfg("compute").get("imageSeconds", 60))
    op = ctx.world.start_operation(image_id, "create", secs, loc, "Microsoft.Compute", finish())
    return ok(view(ctx, res), status=201, headers=ctx.compute_lro_headers(op, "compute"))


def _norm(d: Any, like: Any = None) -> Any:
    """Compare only the keys the client sent (ARM fills in defaults on the stored copy)."""
    if not isinstance(d, dict):
        return d
    keys = like.keys() if isinstance(like, dict) else d.keys()
    return {
        k.lower(): (str(d.get(k)).lower() if isinstance(d.get(k), str) else _norm(d.get(k)))
        for k in keys
        if k in ("osType", "osState", "snapshot", "managedDisk", "blobUri", "id")
    }


async def images_delete(ctx: Ctx) -> web.StreamResponse:
    p = ctx.params
    res = ctx.world.get(rid(p["sub"], p["rg"], "images", p["name"]))
    if res is None:
        return web.Response(status=204)
    return begin_delete(ctx, res, float(ctx.world.cfg("compute").get("imageDeleteSeconds", 20)), "compute")


# ---------------------------------------------------------------------------- galleries


def register(arm: Arm) -> None:
    rgp = RG + P
    n = "/(?P<name>[^/]+)"
    for method, path, operation, verb, handler, strip in (
        ("GET", "/images" + n, "Images_Get", "read", images_get, 0),
        ("PUT", "/images" + n, "Images_CreateOrUpdate", "write", images_put, 0),
        ("DELETE", "/images" + n, "Images_Delete", "delete", images_delete, 0),
        ("GET", "/images", "Images_ListByResourceGroup", "read", images_list, 1),
    ):
        action = f"Microsoft.Compute/images/{verb}"
        arm.add(method, rgp + path, operation, verb, action, "compute", handler, strip)
