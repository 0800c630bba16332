"""Microsoft.Compute: disks, virtual machines, snapshots, images, galleries and their versions."""

from __future__ import annotations

import copy
import uuid
from typing import Any

from aiohttp import web

from azuresim.arm import RG, Arm, Ctx, listing, ok, operation_status_body
from azuresim.clock import iso
from azuresim.errors import JSON, ArmError, not_found, parent_not_found
from azuresim.world import Operation, Resource, ResourceGroup, World, region, stable_uuid

P = "/providers/Microsoft.Compute"
T_DISK = "Microsoft.Compute/disks"
T_VM = "Microsoft.Compute/virtualMachines"
T_SNAP = "Microsoft.Compute/snapshots"
T_IMAGE = "Microsoft.Compute/images"
T_GALLERY = "Microsoft.Compute/galleries"
T_GIMAGE = "Microsoft.Compute/galleries/images"
T_GVERSION = "Microsoft.Compute/galleries/images/versions"


def rid(sub: str, rg: str, *pairs: str) -> str:
    return f"/subscriptions/{sub}/resourceGroups/{rg}{P}/" + "/".join(pairs)


# ---------------------------------------------------------------------------- seeding


def seed_resource_group(world: World, rg: ResourceGroup, doc: JSON) -> None:
    sub, name, loc = rg.subscription, rg.name, rg.location
    now = iso(world.clock.now())
    for d in doc.get("disks") or []:
        _seed_disk(world, sub, name, loc, d, managed_by=None, now=now)
    for vm in doc.get("virtualMachines") or []:
        _seed_vm(world, sub, name, loc, vm, now)
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
    for g in doc.get("galleries") or []:
        gid = rid(sub, name, "galleries", g["name"])
        gloc = region(g.get("location") or loc)
        if not world.exists(gid):
            world.put(
                Resource(
                    gid, T_GALLERY, g["name"], gloc, _gallery_props(sub, g["name"], g.get("description"))
                )
            )
        for d in g.get("images") or []:
            did = f"{gid}/images/{d['name']}"
            world.put(Resource(did, T_GIMAGE, d["name"], gloc, _definition_props(d)))
            for v in d.get("versions") or []:
                vid = f"{did}/versions/{v['name']}"
                regions = v.get("targetRegions") or [gloc]
                props = {
                    "publishingProfile": {
                        "targetRegions": [
                            {
                                "name": region(r),
                                "regionalReplicaCount": 1,
                                "storageAccountType": "Standard_LRS",
                            }
                            for r in regions
                        ],
                        "replicaCount": 1,
                        "excludeFromLatest": False,
                        "publishedDate": now,
                        "storageAccountType": "Standard_LRS",
                    },
                    "storageProfile": {"source": {"id": v.get("source", "")}},
                    "provisioningState": "Succeeded",
                }
                res = Resource(vid, T_GVERSION, v["name"], gloc, props)
                res.state["regions"] = [region(r) for r in regions]
                world.put(res)


def _seed_disk(
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


def _seed_vm(world: World, sub: str, rg: str, loc: str, vm: JSON, now: str) -> None:
    vm_id = rid(sub, rg, "virtualMachines", vm["name"])
    osd: JSON = vm.get("osDisk") or {}
    osd.setdefault("name", f"{vm['name']}-os")
    os_type = osd.get("osType", "Linux")
    encrypted = bool(osd.get("encrypted", False))
    os_disk: JSON = {
        "osType": os_type,
        "name": osd["name"],
        "createOption": "FromImage",
        "caching": "ReadWrite",
        "deleteOption": "Detach",
        "diskSizeGB": int(osd.get("sizeGB", 64)),
    }
    if osd.get("managed", True):
        disk_id = _seed_disk(world, sub, rg, loc, osd, vm_id, now, os_type=os_type, encrypted=encrypted)
        os_disk["managedDisk"] = {"id": disk_id, "storageAccountType": osd.get("sku", "Premium_LRS")}
    else:
        os_disk["vhd"] = {
            "uri": f"https://{vm['name'].lower()}stor.blob.core.windows.net/vhds/{osd['name']}.vhd"
        }
    if encrypted:
        os_disk["encryptionSettings"] = {"enabled": True}
    data_disks: list[JSON] = []
    for dd in vm.get("dataDisks") or []:
        entry: JSON = {
            "lun": int(dd.get("lun", len(data_disks))),
            "name": dd["name"],
            "createOption": "Empty",
            "caching": "None",
            "diskSizeGB": int(dd.get("sizeGB", 128)),
            "toBeDetached": False,
        }
        if dd.get("managed", True):
            entry["managedDisk"] = {
                "id": _seed_disk(world, sub, rg, loc, dd, vm_id, now),
                "storageAccountType": dd.get("sku", "Premium_LRS"),
            }
        else:
            entry["vhd"] = {
                "uri": f"https://{vm['name'].lower()}stor.blob.core.windows.net/vhds/{dd['name']}.vhd"
            }
        data_disks.append(entry)
    image_ref = vm.get("imageReference") or {
        "publisher": "Canonical",
        "offer": "0001-com-ubuntu-server-jammy",
        "sku": "22_04-lts-gen2",
        "version": "latest",
    }
    props: JSON = {
        "vmId": stable_uuid(vm_id.lower()),
        "hardwareProfile": {"vmSize": vm.get("vmSize", "Standard_D2s_v5")},
        "storageProfile": {"imageReference": image_ref, "osDisk": os_disk, "dataDisks": data_disks},
        "osProfile": {
            "computerName": vm["name"],
            "adminUsername": "azureuser",
            "linuxConfiguration": {"disablePasswordAuthentication": True},
        },
        "networkProfile": {
            "networkInterfaces": [
                {
                    "id": f"/subscriptions/{sub}/resourceGroups/{rg}/providers/"
                    f"Microsoft.Network/networkInterfaces/{vm['name']}-nic"
                }
            ]
        },
        "provisioningState": "Succeeded",
        "timeCreated": now,
    }
    if vm.get("encryptionAtHost"):
        props["securityProfile"] = {"encryptionAtHost": True}
    extra: JSON = {}
    if vm.get("plan"):
        extra["plan"] = dict(vm["plan"])
    exts = []
    for e in vm.get("extensions") or []:
        ename = e if isinstance(e, str) else e["name"]
        exts.append(
            {
                "id": f"{vm_id}/extensions/{ename}",
                "name": ename,
                "type": "Microsoft.Compute/virtualMachines/extensions",
                "location": loc,
                "properties": {
                    "autoUpgradeMinorVersion": True,
                    "provisioningState": "Succeeded",
                    "publisher": "Microsoft.Azure.Extensions",
                    "type": ename,
                    "typeHandlerVersion": "2.1",
                },
            }
        )
    if exts:
        extra["resources"] = exts
    world.put(
        Resource(
            vm_id,
            T_VM,
            vm["name"],
            region(vm.get("location") or loc),
            props,
            tags=dict(vm.get("tags") or {}),
            extra=extra,
        )
    )


def _gallery_props(sub: str, name: str, description: str | None = None) -> JSON:
    props: JSON = {"identifier": {"uniqueName": f"{sub}-{name.upper()}"}, "provisioningState": "Succeeded"}
    if description:
        props["description"] = description
    return props


def _definition_props(d: JSON) -> JSON:
    return {
        "osType": d.get("osType", "Linux"),
        "osState": d.get("osState", "Generalized"),
        "hyperVGeneration": d.get("hyperVGeneration", "V1"),
        "identifier": d.get("identifier") or {"publisher": "azbatch", "offer": d["name"], "sku": d["name"]},
        "provisioningState": "Succeeded",
    }


# ---------------------------------------------------------------------------- helpers


def _get_or_404(ctx: Ctx, res_id: str, rtype: str, name: str) -> Resource:
    res = ctx.world.get(res_id)
    if res is None or res.type.lower() != rtype.lower():
        raise not_found(rtype, name, ctx.params["rg"])
    return res


def _location(ctx: Ctx, body: JSON) -> str:
    loc = body.get("location")
    if not loc:
        raise ArmError(400, "LocationRequired", "The location property is required for this definition.")
    return region(str(loc))


def _finish(state: str = "Succeeded") -> Any:
    def done(world: World, op: Operation) -> None:
        res = world.resources.get(op.resource_id.lower())
        if res is not None:
            res.properties["provisioningState"] = state
            fin = res.state.pop("on_succeeded", None)
            if callable(fin):
                fin(world, res)

    return done


def _delete_done(world: World, op: Operation) -> None:
    world.delete(op.resource_id)


def _begin_delete(ctx: Ctx, res: Resource, seconds: float, kind: str) -> web.Response:
    if res.properties.get("provisioningState") == "Deleting" and res.state.get("delete_op"):
        op = ctx.world.operations[res.state["delete_op"]]
    else:
        res.properties["provisioningState"] = "Deleting"
        op = ctx.world.start_operation(
            res.id, "delete", seconds, res.location, "Microsoft.Compute", _delete_done
        )
        res.state["delete_op"] = op.id
    return web.Response(status=202, headers=ctx.compute_lro_headers(op, kind))


def _view(ctx: Ctx, res: Resource) -> JSON:
    return ctx.world.view(res)


# ---------------------------------------------------------------------------- disks / VMs


async def disks_get(ctx: Ctx) -> web.StreamResponse:
    p = ctx.params
    return ok(_view(ctx, _get_or_404(ctx, rid(p["sub"], p["rg"], "disks", p["name"]), T_DISK, p["name"])))


async def disks_list(ctx: Ctx) -> web.StreamResponse:
    return _list_rg(ctx, T_DISK)


async def vms_get(ctx: Ctx) -> web.StreamResponse:
    p = ctx.params
    body = _view(ctx, _get_or_404(ctx, rid(p["sub"], p["rg"], "virtualMachines", p["name"]), T_VM, p["name"]))
    expand = ctx.request.query.get("$expand", "")
    if expand.lower() == "instanceview":
        body["properties"]["instanceView"] = {
            "statuses": [
                {
                    "code": "ProvisioningState/succeeded",
                    "level": "Info",
                    "displayStatus": "Provisioning succeeded",
                },
                {"code": "PowerState/running", "level": "Info", "displayStatus": "VM running"},
            ]
        }
    return ok(body)


def _list_rg(ctx: Ctx, rtype: str) -> web.Response:
    p = ctx.params
    prefix = f"/subscriptions/{p['sub']}/resourcegroups/{p['rg']}/".lower()
    items = [_view(ctx, r) for r in ctx.world.by_type(rtype) if r.id.lower().startswith(prefix)]
    return listing(items)


# ---------------------------------------------------------------------------- snapshots


async def snapshots_get(ctx: Ctx) -> web.StreamResponse:
    p = ctx.params
    return ok(_view(ctx, _get_or_404(ctx, rid(p["sub"], p["rg"], "snapshots", p["name"]), T_SNAP, p["name"])))


async def snapshots_list(ctx: Ctx) -> web.StreamResponse:
    return _list_rg(ctx, T_SNAP)


async def snapshots_put(ctx: Ctx) -> web.StreamResponse:
    p = ctx.params
    body = await ctx.body()
    snap_id = rid(p["sub"], p["rg"], "snapshots", p["name"])
    existing = ctx.world.get(snap_id)
    loc = _location(ctx, body)
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
        return ok(_view(ctx, existing))
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
    op = ctx.world.start_operation(snap_id, "create", secs, loc, "Microsoft.Compute", _finish())
    return ok(_view(ctx, res), status=202, headers=ctx.compute_lro_headers(op, "disk"))


async def snapshots_delete(ctx: Ctx) -> web.StreamResponse:
    p = ctx.params
    res = ctx.world.get(rid(p["sub"], p["rg"], "snapshots", p["name"]))
    if res is None:
        return web.Response(status=204)
    return _begin_delete(ctx, res, float(ctx.world.cfg("compute").get("snapshotDeleteSeconds", 10)), "disk")


# ---------------------------------------------------------------------------- images


async def images_get(ctx: Ctx) -> web.StreamResponse:
    p = ctx.params
    return ok(_view(ctx, _get_or_404(ctx, rid(p["sub"], p["rg"], "images", p["name"]), T_IMAGE, p["name"])))


async def images_list(ctx: Ctx) -> web.StreamResponse:
    return _list_rg(ctx, T_IMAGE)


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
    loc = _location(ctx, body)
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
        return ok(_view(ctx, existing))
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
    op = ctx.world.start_operation(image_id, "create", secs, loc, "Microsoft.Compute", _finish())
    return ok(_view(ctx, res), status=201, headers=ctx.compute_lro_headers(op, "compute"))


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
    return _begin_delete(ctx, res, float(ctx.world.cfg("compute").get("imageDeleteSeconds", 20)), "compute")


# ---------------------------------------------------------------------------- galleries


def _gallery(ctx: Ctx) -> Resource:
    p = ctx.params
    g = ctx.world.get(rid(p["sub"], p["rg"], "galleries", p["gallery"]))
    if g is None:
        raise parent_not_found(p["gallery"])
    return g


async def galleries_get(ctx: Ctx) -> web.StreamResponse:
    p = ctx.params
    return ok(
        _view(ctx, _get_or_404(ctx, rid(p["sub"], p["rg"], "galleries", p["name"]), T_GALLERY, p["name"]))
    )


async def galleries_list(ctx: Ctx) -> web.StreamResponse:
    return _list_rg(ctx, T_GALLERY)


async def galleries_put(ctx: Ctx) -> web.StreamResponse:
    p = ctx.params
    body = await ctx.body()
    gid = rid(p["sub"], p["rg"], "galleries", p["name"])
    loc = _location(ctx, body)
    existing = ctx.world.get(gid)
    if existing is not None:
        existing.tags = dict(body.get("tags") or existing.tags)
        return ok(_view(ctx, existing))
    props = _gallery_props(p["sub"], p["name"], (body.get("properties") or {}).get("description"))
    props["provisioningState"] = "Creating"
    res = ctx.world.put(Resource(gid, T_GALLERY, p["name"], loc, props, tags=dict(body.get("tags") or {})))
    op = ctx.world.start_operation(gid, "create", 5, loc, "Microsoft.Compute", _finish())
    return ok(_view(ctx, res), status=201, headers=ctx.compute_lro_headers(op, "gallery"))


async def gallery_images_get(ctx: Ctx) -> web.StreamResponse:
    g = _gallery(ctx)
    name = ctx.params["name"]
    res = ctx.world.get(f"{g.id}/images/{name}")
    if res is None:
        raise not_found(T_GIMAGE, f"{g.name}/{name}", ctx.params["rg"])
    return ok(_view(ctx, res))


async def gallery_images_list(ctx: Ctx) -> web.StreamResponse:
    g = _gallery(ctx)
    return listing([_view(ctx, r) for r in ctx.world.children(g.id, T_GIMAGE)])


async def gallery_images_put(ctx: Ctx) -> web.StreamResponse:
    g = _gallery(ctx)
    name = ctx.params["name"]
    body = await ctx.body()
    loc = _location(ctx, body)
    did = f"{g.id}/images/{name}"
    props_in: JSON = body.get("properties") or {}
    existing = ctx.world.get(did)
    if existing is not None:
        for key in ("osType", "osState", "hyperVGeneration"):
            if (
                key in props_in
                and str(props_in[key]).lower() != str(existing.properties.get(key, "")).lower()
            ):
                raise ArmError(
                    409, "PropertyChangeNotAllowed", f"Changing property '{key}' is not allowed.", target=key
                )
        existing.tags = dict(body.get("tags") or existing.tags)
        return ok(_view(ctx, existing))
    for key in ("osType", "osState", "identifier"):
        if not props_in.get(key):
            raise ArmError(
                400, "InvalidParameter", f"Required parameter '{key}' is missing (null).", target=key
            )
    props = copy.deepcopy(props_in)
    props.setdefault("hyperVGeneration", "V1")
    props["provisioningState"] = "Creating"
    res = ctx.world.put(Resource(did, T_GIMAGE, name, loc, props, tags=dict(body.get("tags") or {})))
    secs = float(ctx.world.cfg("compute").get("galleryImageDefinitionSeconds", 5))
    op = ctx.world.start_operation(did, "create", secs, loc, "Microsoft.Compute", _finish())
    return ok(_view(ctx, res), status=201, headers=ctx.compute_lro_headers(op, "gallery"))


async def gallery_images_delete(ctx: Ctx) -> web.StreamResponse:
    g = _gallery(ctx)
    res = ctx.world.get(f"{g.id}/images/{ctx.params['name']}")
    if res is None:
        return web.Response(status=204)
    if ctx.world.children(res.id, T_GVERSION):
        raise ArmError(
            409, "CannotDeleteResource", "Can not delete resource before nested resources are deleted."
        )
    return _begin_delete(ctx, res, 5, "gallery")


def _definition(ctx: Ctx) -> Resource:
    g = _gallery(ctx)
    d = ctx.world.get(f"{g.id}/images/{ctx.params['image']}")
    if d is None:
        raise parent_not_found(ctx.params["image"])
    return d


async def versions_get(ctx: Ctx) -> web.StreamResponse:
    d = _definition(ctx)
    name = ctx.params["name"]
    res = ctx.world.get(f"{d.id}/versions/{name}")
    if res is None:
        raise not_found(T_GVERSION, f"{ctx.params['gallery']}/{d.name}/{name}", ctx.params["rg"])
    body = _view(ctx, res)
    if ctx.request.query.get("$expand", "").lower() == "replicationstatus":
        body["properties"]["replicationStatus"] = replication_status(ctx.world, res)
    return ok(body)


async def versions_list(ctx: Ctx) -> web.StreamResponse:
    d = _definition(ctx)
    return listing([_view(ctx, r) for r in ctx.world.children(d.id, T_GVERSION)])


def replication_status(world: World, res: Resource) -> JSON:
    regions: list[str] = res.state.get("regions") or [
        region(t.get("name")) for t in res.properties.get("publishingProfile", {}).get("targetRegions", [])
    ]
    start, end = float(res.state.get("rep_start", 0)), float(res.state.get("rep_end", 0))
    now = world.clock.now()
    summary = []
    for i, r in enumerate(regions):
        # regions complete one after another across the replication window
        r_end = start + (end - start) * (i + 1) / max(1, len(regions))
        r_start = start + (end - start) * i / max(1, len(regions))
        if not end or now >= r_end:
            summary.append({"region": r, "state": "Completed", "progress": 100})
        else:
            progress = int(max(0.0, (now - r_start) / max(1e-9, r_end - r_start)) * 100)
            summary.append({"region": r, "state": "Replicating", "progress": min(99, progress)})
    aggregated = "Completed" if all(s["state"] == "Completed" for s in summary) else "InProgress"
    return {"aggregatedState": aggregated, "summary": summary}


async def versions_put(ctx: Ctx, patch: bool = False) -> web.StreamResponse:
    d = _definition(ctx)
    name = ctx.params["name"]
    vid = f"{d.id}/versions/{name}"
    body = await ctx.body()
    existing = ctx.world.get(vid)
    props_in: JSON = body.get("properties") or {}
    pub_in: JSON = props_in.get("publishingProfile") or {}
    compute = ctx.world.cfg("compute")
    if existing is None and patch:
        raise not_found(T_GVERSION, f"{ctx.params['gallery']}/{d.name}/{name}", ctx.params["rg"])
    loc = existing.location if existing is not None else _location(ctx, body)
    if existing is not None:
        if existing.properties.get("provisioningState") in ("Creating", "Updating", "Deleting"):
            raise ArmError(
                409,
                "OperationNotAllowed",
                "An operation is already in progress on gallery image "
                f"version '{name}'. Retry after it completes.",
            )
        src_in = (props_in.get("storageProfile") or {}).get("source") or {}
        old_src = existing.properties.get("storageProfile", {}).get("source", {})
        if src_in.get("id") and str(src_in["id"]).lower() != str(old_src.get("id", "")).lower():
            raise ArmError(
                409,
                "PropertyChangeNotAllowed",
                "Changing property 'storageProfile.source.id' is not allowed.",
                target="storageProfile.source.id",
            )
        pub = existing.properties.setdefault("publishingProfile", {})
        for key in ("targetRegions", "replicaCount", "excludeFromLatest", "endOfLifeDate"):
            if key in pub_in:
                pub[key] = copy.deepcopy(pub_in[key])
        _normalize_regions(pub, loc)
        existing.tags = dict(body.get("tags") or existing.tags)
        existing.properties["provisioningState"] = "Updating"
        secs = _replication_seconds(compute, pub)
        _set_replication(ctx.world, existing, secs)
        op = ctx.world.start_operation(vid, "update", secs, loc, "Microsoft.Compute", _finish())
        return ok(_view(ctx, existing), status=200, headers=ctx.compute_lro_headers(op, "gallery"))
    source = (props_in.get("storageProfile") or {}).get("source") or {}
    src_id = str(source.get("id") or "")
    if not src_id:
        raise ArmError(
            400,
            "InvalidParameter",
            "Required parameter 'storageProfile.source.id' is missing (null).",
            target="storageProfile.source.id",
        )
    src = ctx.world.get(src_id)
    if src is None or src.type not in (T_IMAGE, T_SNAP, T_DISK, T_VM, T_GVERSION):
        raise ArmError(
            404,
            "NotFound",
            f"The source resource '{src_id}' was not found.",
            target="storageProfile.source.id",
        )
    if src.properties.get("provisioningState") not in (None, "Succeeded"):
        raise ArmError(
            409,
            "OperationNotAllowed",
            f"The source resource '{src_id}' is not in a succeeded state "
            f"(provisioningState {src.properties.get('provisioningState')}).",
            target="storageProfile.source.id",
        )
    pub = copy.deepcopy(pub_in)
    _normalize_regions(pub, loc)
    if src.type == T_IMAGE and src.location not in [t["name"] for t in pub["targetRegions"]]:
        raise ArmError(
            400,
            "InvalidParameter",
            f"The source image region '{src.location}' must be one of the "
            "target regions of the gallery image version.",
            target="publishingProfile.targetRegions",
        )
    pub.setdefault("replicaCount", 1)
    pub.setdefault("excludeFromLatest", False)
    pub.setdefault("storageAccountType", "Standard_LRS")
    pub["publishedDate"] = iso(ctx.world.clock.now())
    props: JSON = {
        "publishingProfile": pub,
        "storageProfile": {"source": {"id": src.id}},
        "safetyProfile": props_in.get("safetyProfile") or {"allowDeletionOfReplicatedLocations": True},
        "provisioningState": "Creating",
    }
    os_disk = src.properties.get("storageProfile", {}).get("osDisk") if src.type == T_IMAGE else None
    if os_disk:
        props["storageProfile"]["osDiskImage"] = {
            "sizeInGB": os_disk.get("diskSizeGB") or 64,
            "hostCaching": os_disk.get("caching", "ReadWrite"),
        }
    res = ctx.world.put(Resource(vid, T_GVERSION, name, loc, props, tags=dict(body.get("tags") or {})))
    secs = _replication_seconds(compute, pub)
    _set_replication(ctx.world, res, secs)
    op = ctx.world.start_operation(vid, "create", secs, loc, "Microsoft.Compute", _finish())
    return ok(_view(ctx, res), status=201, headers=ctx.compute_lro_headers(op, "gallery"))


async def versions_patch(ctx: Ctx) -> web.StreamResponse:
    return await versions_put(ctx, patch=True)


def _normalize_regions(pub: JSON, loc: str) -> None:
    regions = pub.get("targetRegions") or [{"name": loc}]
    out = []
    for t in regions:
        t = dict(t) if isinstance(t, dict) else {"name": str(t)}
        t["name"] = region(t.get("name"))
        t.setdefault("regionalReplicaCount", int(pub.get("replicaCount") or 1))
        t.setdefault("storageAccountType", pub.get("storageAccountType", "Standard_LRS"))
        out.append(t)
    pub["targetRegions"] = out


def _replication_seconds(compute: JSON, pub: JSON) -> float:
    replicas = sum(int(t.get("regionalReplicaCount") or 1) for t in pub.get("targetRegions") or [])
    return float(compute.get("galleryImageVersionBaseSeconds", 120)) + float(
        compute.get("galleryReplicaSeconds", 60)
    ) * max(1, replicas)


def _set_replication(world: World, res: Resource, secs: float) -> None:
    now = world.clock.now()
    res.state["rep_start"] = now
    res.state["rep_end"] = now + secs
    res.state["regions"] = [t["name"] for t in res.properties["publishingProfile"]["targetRegions"]]


async def versions_delete(ctx: Ctx) -> web.StreamResponse:
    d = _definition(ctx)
    res = ctx.world.get(f"{d.id}/versions/{ctx.params['name']}")
    if res is None:
        return web.Response(status=204)
    secs = float(ctx.world.cfg("compute").get("galleryImageVersionDeleteSeconds", 30))
    return _begin_delete(ctx, res, secs, "gallery")


# ---------------------------------------------------------------------------- operation status


async def operation_status(ctx: Ctx) -> web.StreamResponse:
    op = ctx.world.operations.get(ctx.params["op"])
    if op is None:
        raise ArmError(404, "NotFound", f"The operation '{ctx.params['op']}' was not found.")
    monitor = ctx.request.query.get("monitor", "").lower() == "true"
    if monitor:
        if op.status == "InProgress":
            headers = {"Location": str(ctx.request.url)}
            ra = ctx.retry_after(op.done_at - ctx.world.clock.now())
            if ra:
                headers["Retry-After"] = ra
            return web.Response(status=202, headers=headers)
        if op.kind != "delete":
            res = ctx.world.get(op.resource_id)
            if res is not None:
                return ok(_view(ctx, res))
        return web.Response(status=200)
    headers = {}
    if op.status == "InProgress":
        ra = ctx.retry_after(op.done_at - ctx.world.clock.now())
        if ra:
            headers["Retry-After"] = ra
    return ok(operation_status_body(op), headers=headers)


# ---------------------------------------------------------------------------- registration


def register(arm: Arm, world: World) -> None:
    rgp = RG + P
    n = r"(?P<name>[^/]+)"
    a = arm.add
    a("GET", rgp + "/disks/" + n, "Disks_Get", "read", "Microsoft.Compute/disks/read", "disk", disks_get)
    a(
        "GET",
        rgp + "/disks",
        "Disks_ListByResourceGroup",
        "read",
        "Microsoft.Compute/disks/read",
        "disk",
        disks_list,
        1,
    )
    a(
        "GET",
        rgp + "/virtualMachines/" + n,
        "VirtualMachines_Get",
        "read",
        "Microsoft.Compute/virtualMachines/read",
        "compute",
        vms_get,
    )
    a(
        "GET",
        rgp + "/snapshots/" + n,
        "Snapshots_Get",
        "read",
        "Microsoft.Compute/snapshots/read",
        "disk",
        snapshots_get,
    )
    a(
        "PUT",
        rgp + "/snapshots/" + n,
        "Snapshots_CreateOrUpdate",
        "write",
        "Microsoft.Compute/snapshots/write",
        "disk",
        snapshots_put,
    )
    a(
        "DELETE",
        rgp + "/snapshots/" + n,
        "Snapshots_Delete",
        "delete",
        "Microsoft.Compute/snapshots/delete",
        "disk",
        snapshots_delete,
    )
    a(
        "GET",
        rgp + "/snapshots",
        "Snapshots_ListByResourceGroup",
        "read",
        "Microsoft.Compute/snapshots/read",
        "disk",
        snapshots_list,
        1,
    )
    a(
        "GET",
        rgp + "/images/" + n,
        "Images_Get",
        "read",
        "Microsoft.Compute/images/read",
        "compute",
        images_get,
    )
    a(
        "PUT",
        rgp + "/images/" + n,
        "Images_CreateOrUpdate",
        "write",
        "Microsoft.Compute/images/write",
        "compute",
        images_put,
    )
    a(
        "DELETE",
        rgp + "/images/" + n,
        "Images_Delete",
        "delete",
        "Microsoft.Compute/images/delete",
        "compute",
        images_delete,
    )
    a(
        "GET",
        rgp + "/images",
        "Images_ListByResourceGroup",
        "read",
        "Microsoft.Compute/images/read",
        "compute",
        images_list,
        1,
    )
    a(
        "GET",
        rgp + "/galleries/" + n,
        "Galleries_Get",
        "read",
        "Microsoft.Compute/galleries/read",
        "gallery",
        galleries_get,
    )
    a(
        "PUT",
        rgp + "/galleries/" + n,
        "Galleries_CreateOrUpdate",
        "write",
        "Microsoft.Compute/galleries/write",
        "gallery",
        galleries_put,
    )
    a(
        "GET",
        rgp + "/galleries",
        "Galleries_ListByResourceGroup",
        "read",
        "Microsoft.Compute/galleries/read",
        "gallery",
        galleries_list,
        1,
    )
    g = rgp + r"/galleries/(?P<gallery>[^/]+)/images"
    a(
        "GET",
        g + "/" + n,
        "GalleryImages_Get",
        "read",
        "Microsoft.Compute/galleries/images/read",
        "gallery",
        gallery_images_get,
    )
    a(
        "PUT",
        g + "/" + n,
        "GalleryImages_CreateOrUpdate",
        "write",
        "Microsoft.Compute/galleries/images/write",
        "gallery",
        gallery_images_put,
    )
    a(
        "DELETE",
        g + "/" + n,
        "GalleryImages_Delete",
        "delete",
        "Microsoft.Compute/galleries/images/delete",
        "gallery",
        gallery_images_delete,
    )
    a(
        "GET",
        g,
        "GalleryImages_ListByGallery",
        "read",
        "Microsoft.Compute/galleries/images/read",
        "gallery",
        gallery_images_list,
        1,
    )
    v = g + r"/(?P<image>[^/]+)/versions"
    act = "Microsoft.Compute/galleries/images/versions/"
    a("GET", v + "/" + n, "GalleryImageVersions_Get", "read", act + "read", "gallery", versions_get)
    a(
        "PUT",
        v + "/" + n,
        "GalleryImageVersions_CreateOrUpdate",
        "write",
        act + "write",
        "gallery",
        versions_put,
    )
    a("PATCH", v + "/" + n, "GalleryImageVersions_Update", "write", act + "write", "gallery", versions_patch)
    a(
        "DELETE",
        v + "/" + n,
        "GalleryImageVersions_Delete",
        "delete",
        act + "delete",
        "gallery",
        versions_delete,
    )
    a("GET", v, "GalleryImageVersions_ListByGalleryImage", "read", act + "read", "gallery", versions_list, 1)
    ops = r"/subscriptions/(?P<sub>[^/]+)/providers/Microsoft.Compute/locations/(?P<loc>[^/]+)/"
    for seg, opname in (
        ("operations", "ComputeOperations_Get"),
        ("DiskOperations", "DiskOperations_Get"),
        ("capsOperations", "GalleryOperations_Get"),
    ):
        a(
            "GET",
            ops + seg + r"/(?P<op>[^/]+)",
            opname,
            "read",
            "Microsoft.Compute/locations/operations/read",
            "compute-ops",
            operation_status,
            rbac=False,
        )
    world.seeders.append(seed_resource_group)
