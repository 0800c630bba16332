"""Gallery RP: Azure Compute Galleries, image definitions and image versions (with replication)."""

from __future__ import annotations

import copy

from aiohttp import web

from azuresim.arm import RG, Arm, Ctx, listing, ok
from azuresim.clock import iso
from azuresim.compute.common import (
    T_DISK,
    T_GALLERY,
    T_GIMAGE,
    T_GVERSION,
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
from azuresim.errors import JSON, ArmError, not_found, parent_not_found
from azuresim.regions import display_name
from azuresim.world import Resource, ResourceGroup, World, default_view, region


def seed_galleries(world: World, rg: ResourceGroup, doc: JSON) -> None:
    sub, name, loc = rg.subscription, rg.name, rg.location
    now = iso(world.clock.now())
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
                props: JSON = {
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
                    "safetyProfile": _safety_profile(v.get("safetyProfile")),
                    "provisioningState": "Succeeded",
                }
                source = world.get(str(v.get("source") or ""))
                os_disk = source.properties.get("storageProfile", {}).get("osDisk") if source else None
                if os_disk:
                    props["storageProfile"]["osDiskImage"] = {
                        "sizeInGB": os_disk.get("diskSizeGB") or 64,
                        "hostCaching": os_disk.get("caching", "ReadWrite"),
                    }
                res = Resource(vid, T_GVERSION, v["name"], gloc, props)
                res.state["regions"] = [region(r) for r in regions]
                world.put(res)


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


def _gallery(ctx: Ctx) -> Resource:
    p = ctx.params
    g = ctx.world.get(rid(p["sub"], p["rg"], "galleries", p["gallery"]))
    if g is None:
        raise parent_not_found(p["gallery"])
    return g


async def galleries_get(ctx: Ctx) -> web.StreamResponse:
    p = ctx.params
    return ok(
        view(ctx, get_or_404(ctx, rid(p["sub"], p["rg"], "galleries", p["name"]), T_GALLERY, p["name"]))
    )


async def galleries_list(ctx: Ctx) -> web.StreamResponse:
    return list_rg(ctx, T_GALLERY)


async def galleries_put(ctx: Ctx) -> web.StreamResponse:
    p = ctx.params
    body = await ctx.body()
    gid = rid(p["sub"], p["rg"], "galleries", p["name"])
    loc = location_of(ctx, body)
    existing = ctx.world.get(gid)
    if existing is not None:
        existing.tags = dict(body.get("tags") or existing.tags)
        return ok(view(ctx, existing))
    props = _gallery_props(p["sub"], p["name"], (body.get("properties") or {}).get("description"))
    props["provisioningState"] = "Creating"
    res = ctx.world.put(Resource(gid, T_GALLERY, p["name"], loc, props, tags=dict(body.get("tags") or {})))
    op = ctx.world.start_operation(gid, "create", 5, loc, "Microsoft.Compute", finish())
    return ok(view(ctx, res), status=201, headers=ctx.compute_lro_headers(op, "gallery"))


async def gallery_images_get(ctx: Ctx) -> web.StreamResponse:
    g = _gallery(ctx)
    name = ctx.params["name"]
    res = ctx.world.get(f"{g.id}/images/{name}")
    if res is None:
        raise not_found(T_GIMAGE, f"{g.name}/{name}", ctx.params["rg"])
    return ok(view(ctx, res))


async def gallery_images_list(ctx: Ctx) -> web.StreamResponse:
    g = _gallery(ctx)
    return listing([view(ctx, r) for r in ctx.world.children(g.id, T_GIMAGE)])


async def gallery_images_put(ctx: Ctx) -> web.StreamResponse:
    g = _gallery(ctx)
    name = ctx.params["name"]
    body = await ctx.body()
    loc = location_of(ctx, body)
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
        return ok(view(ctx, existing))
    if loc != g.location:
        raise ArmError(
            400,
            "InvalidParameter",
            f"The gallery image definition location '{loc}' must be the location of its gallery "
            f"'{g.name}' ('{g.location}').",
            target="location",
        )
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
    op = ctx.world.start_operation(did, "create", secs, loc, "Microsoft.Compute", finish())
    return ok(view(ctx, res), status=201, headers=ctx.compute_lro_headers(op, "gallery"))


async def gallery_images_delete(ctx: Ctx) -> web.StreamResponse:
    g = _gallery(ctx)
    res = ctx.world.get(f"{g.id}/images/{ctx.params['name']}")
    if res is None:
        return web.Response(status=204)
    if ctx.world.children(res.id, T_GVERSION):
        raise ArmError(
            409, "CannotDeleteResource", "Can not delete resource before nested resources are deleted."
        )
    return begin_delete(ctx, res, 5, "gallery")


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
    body = view(ctx, res)
    if ctx.request.query.get("$expand", "").lower() == "replicationstatus":
        body["properties"]["replicationStatus"] = replication_status(ctx.world, res)
    return ok(body)


async def versions_list(ctx: Ctx) -> web.StreamResponse:
    d = _definition(ctx)
    return listing([view(ctx, r) for r in ctx.world.children(d.id, T_GVERSION)])


def version_view(world: World, res: Resource) -> JSON:
    """As the Gallery RP returns a version: target regions by display name ("West Europe")."""
    body = default_view(res)
    for target in body["properties"].get("publishingProfile", {}).get("targetRegions") or []:
        target["name"] = display_name(str(target.get("name", "")))
    return body


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
            summary.append({"region": display_name(r), "state": "Completed", "progress": 100})
        else:
            progress = int(max(0.0, (now - r_start) / max(1e-9, r_end - r_start)) * 100)
            summary.append({"region": display_name(r), "state": "Replicating", "progress": min(99, progress)})
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
    loc = existing.location if existing is not None else location_of(ctx, body)
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
        safety = existing.properties.setdefault("safetyProfile", _safety_profile(None))
        if isinstance(props_in.get("safetyProfile"), dict):
            safety.update(props_in["safetyProfile"])
        pub = existing.properties.setdefault("publishingProfile", {})
        before = {region(t.get("name")) for t in pub.get("targetRegions") or []}
        wanted = copy.deepcopy(pub)
        for key in ("targetRegions", "replicaCount", "excludeFromLatest", "endOfLifeDate"):
            if key in pub_in:
                wanted[key] = copy.deepcopy(pub_in[key])
        _normalize_regions(wanted, loc)
        removed = sorted(before - {t["name"] for t in wanted["targetRegions"]})
        if removed and not safety.get("allowDeletionOfReplicatedLocations"):
            raise ArmError(
                409,
                "OperationNotAllowed",
                f"Removing replicated regions ({', '.join(removed)}) from gallery image version "
                f"'{name}' is not allowed: its safetyProfile.allowDeletionOfReplicatedLocations is "
                "false. Set it to true in the same request to remove them.",
                target="safetyProfile.allowDeletionOfReplicatedLocations",
            )
        existing.properties["publishingProfile"] = pub = wanted
        existing.tags = dict(body.get("tags") or existing.tags)
        existing.properties["provisioningState"] = "Updating"
        secs = _replication_seconds(compute, pub)
        _set_replication(ctx.world, existing, secs)
        op = ctx.world.start_operation(vid, "update", secs, loc, "Microsoft.Compute", finish())
        return ok(view(ctx, existing), status=200, headers=ctx.compute_lro_headers(op, "gallery"))
    gallery = _gallery(ctx)
    if loc != gallery.location:
        raise ArmError(
            400,
            "InvalidParameter",
            f"The gallery image version location '{loc}' must be the location of its gallery "
            f"'{gallery.name}' ('{gallery.location}').",
            target="location",
        )
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
        "safetyProfile": _safety_profile(props_in.get("safetyProfile")),
        "provisioningState": "Creating",
    }
    src_profile = src.properties.get("storageProfile", {}) if src.type == T_IMAGE else {}
    if src.type == T_GVERSION:
        # a version made from another version carries its disk images over
        for key in ("osDiskImage", "dataDiskImages"):
            if key in src.properties.get("storageProfile", {}):
                props["storageProfile"][key] = copy.deepcopy(src.properties["storageProfile"][key])
    os_disk = src_profile.get("osDisk")
    if os_disk:
        props["storageProfile"]["osDiskImage"] = {
            "sizeInGB": os_disk.get("diskSizeGB") or 64,
            "hostCaching": os_disk.get("caching", "ReadWrite"),
        }
    data_disks = src_profile.get("dataDisks") or []
    if data_disks:
        props["storageProfile"]["dataDiskImages"] = [
            {
                "lun": int(dd.get("lun", i)),
                "sizeInGB": dd.get("diskSizeGB") or 0,
                "hostCaching": dd.get("caching", "None"),
            }
            for i, dd in enumerate(data_disks)
        ]
    res = ctx.world.put(Resource(vid, T_GVERSION, name, loc, props, tags=dict(body.get("tags") or {})))
    secs = _replication_seconds(compute, pub)
    _set_replication(ctx.world, res, secs)
    mismatch = _source_mismatch(ctx.world, d, src)
    failure = {"code": "Conflict", "message": mismatch} if mismatch else None
    op = ctx.world.start_operation(
        vid, "create", secs if failure is None else 5, loc, "Microsoft.Compute", finish(), error=failure
    )
    return ok(view(ctx, res), status=201, headers=ctx.compute_lro_headers(op, "gallery"))


async def versions_patch(ctx: Ctx) -> web.StreamResponse:
    return await versions_put(ctx, patch=True)


def _safety_profile(given: object) -> JSON:
    """The Gallery RP defaults: replicated regions may not be removed unless allowed explicitly."""
    profile: JSON = {"allowDeletionOfReplicatedLocations": False, "reportedForPolicyViolation": False}
    if isinstance(given, dict):
        profile.update(given)
    return profile


def _source_mismatch(world: World, definition: Resource, src: Resource) -> str:
    """Why a source cannot become a version of `definition` ('' when it can).

    The Gallery RP accepts the PUT and fails the operation with `Conflict` (as
    MicrosoftDocs/azure-docs#118774 shows for the Hyper-V generation).
    """
    d = definition.properties
    if src.type == T_IMAGE:
        os_disk = src.properties.get("storageProfile", {}).get("osDisk", {})
        found = {
            "Hypervisor generation": src.properties.get("hyperVGeneration") or "V1",
            "OS type": os_disk.get("osType"),
            "OS state": os_disk.get("osState"),
        }
    elif src.type in (T_SNAP, T_DISK):
        found = {"Hypervisor generation": src.properties.get("hyperVGeneration") or "V1"}
    elif src.type == T_GVERSION:
        parent = world.get(src.id[: src.id.lower().rindex("/versions/")])
        pp = parent.properties if parent is not None else {}
        found = {
            "Hypervisor generation": pp.get("hyperVGeneration") or "V1",
            "OS type": pp.get("osType"),
            "OS state": pp.get("osState"),
        }
    else:
        return ""
    wanted = {
        "Hypervisor generation": d.get("hyperVGeneration") or "V1",
        "OS type": d.get("osType"),
        "OS state": d.get("osState"),
    }
    for label, value in found.items():
        if value is not None and str(value).lower() != str(wanted[label] or "").lower():
            return (
                f"The resource with id '{src.id}' has a different {label} ['{value}'] than the parent "
                f"gallery image {label} ['{wanted[label]}']."
            )
    return ""


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
    return begin_delete(ctx, res, secs, "gallery")


# ---------------------------------------------------------------------------- operation status


def register(arm: Arm) -> None:
    rgp = RG + P
    n = "/(?P<name>[^/]+)"
    g = "/galleries/(?P<gallery>[^/]+)/images"
    v = g + "/(?P<image>[^/]+)/versions"
    for method, path, operation, verb, handler, strip in (
        ("GET", "/galleries" + n, "Galleries_Get", "read", galleries_get, 0),
        ("PUT", "/galleries" + n, "Galleries_CreateOrUpdate", "write", galleries_put, 0),
        ("GET", "/galleries", "Galleries_ListByResourceGroup", "read", galleries_list, 1),
        ("GET", g + n, "GalleryImages_Get", "read", gallery_images_get, 0),
        ("PUT", g + n, "GalleryImages_CreateOrUpdate", "write", gallery_images_put, 0),
        ("DELETE", g + n, "GalleryImages_Delete", "delete", gallery_images_delete, 0),
        ("GET", g, "GalleryImages_ListByGallery", "read", gallery_images_list, 1),
        ("GET", v + n, "GalleryImageVersions_Get", "read", versions_get, 0),
        ("PUT", v + n, "GalleryImageVersions_CreateOrUpdate", "write", versions_put, 0),
        ("PATCH", v + n, "GalleryImageVersions_Update", "write", versions_patch, 0),
        ("DELETE", v + n, "GalleryImageVersions_Delete", "delete", versions_delete, 0),
        ("GET", v, "GalleryImageVersions_ListByGalleryImage", "read", versions_list, 1),
    ):
        rtype = operation.split("_", 1)[0]
        kind = {"Galleries": "galleries", "GalleryImages": "galleries/images"}.get(
            rtype, "galleries/images/versions"
        )
        arm.add(
            method, rgp + path, operation, verb, f"Microsoft.Compute/{kind}/{verb}", "gallery", handler, strip
        )
