"""Microsoft.Batch: batch accounts and pools (management plane)."""

from __future__ import annotations

import copy
import itertools
import re
import time
import uuid
from urllib.parse import urlencode

from aiohttp import web

from azuresim import allocation, formula, pool_properties, skus
from azuresim.allocation import T_ACCOUNT, T_POOL, refresh_pool, start_resize, stop_resize
from azuresim.arm import RG, SUB, Arm, Ctx, listing, ok
from azuresim.clock import iso, parse_duration
from azuresim.errors import JSON, ArmError, not_found
from azuresim.world import Operation, Resource, ResourceGroup, World, region

P = "/providers/Microsoft.Batch/batchAccounts"
POOL_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
# Which pool properties change on a pool with nodes and which only on an empty one, with Batch's
# validation of every property: azuresim/pool_properties.py.
IMMUTABLE = pool_properties.EMPTY_POOL
UPDATABLE = tuple(sorted(pool_properties.UPDATABLE))
# Pool properties that api-version 2025-06-01 removed (certificates retired in 2024, node
# communication mode and resourceTags dropped from the model): never stored, never returned.
REMOVED = ("certificates", "resourceTags", "targetNodeCommunicationMode", "currentNodeCommunicationMode")
_etag_seq = itertools.count(1)


def new_etag() -> str:
    return f'W/"0x8D{int(time.time() * 1000):X}{next(_etag_seq):04X}"'


def account_id(sub: str, rg: str, acct: str) -> str:
    return f"/subscriptions/{sub}/resourceGroups/{rg}{P}/{acct}"


def _prop_error(status: int, code: str, message: str, prop: str, reason: str | None = None) -> ArmError:
    return ArmError(
        status,
        code,
        f"{message}\nRequestId:{uuid.uuid4()}\nTime:{iso(time.time())}",
        target="BatchAccount",
        details=[
            {"code": "Reason", "message": reason or message},
            {"code": "PropertyName", "message": prop.rsplit(".", 1)[-1]},
            {"code": "PropertyPath", "message": f"properties.{prop}"},
        ],
    )


# ---------------------------------------------------------------------------- seeding / views


def seed_resource_group(world: World, rg: ResourceGroup, doc: JSON) -> None:
    for a in doc.get("batchAccounts") or []:
        aid = account_id(rg.subscription, rg.name, a["name"])
        loc = region(a.get("location") or rg.location)
        existing = world.get(aid)
        props: JSON = (
            existing.properties
            if existing is not None
            else {
                "accountEndpoint": f"{a['name'].lower()}.{loc}.batch.azure.com",
                "nodeManagementEndpoint": f"{uuid.uuid4()}.{loc}.service.batch.azure.com",
                "provisioningState": "Succeeded",
                "poolAllocationMode": "BatchService",
                "dedicatedCoreQuota": 20000,
                "lowPriorityCoreQuota": 5000,
                "dedicatedCoreQuotaPerVMFamily": [],
                "dedicatedCoreQuotaPerVMFamilyEnforced": True,
                "poolQuota": 100,
                "activeJobAndJobScheduleQuota": 300,
                "publicNetworkAccess": "Enabled",
                "allowedAuthenticationModes": ["AAD", "TaskAuthenticationToken"],
            }
        )
        for key in (
            "poolAllocationMode",
            "dedicatedCoreQuota",
            "lowPriorityCoreQuota",
            "poolQuota",
            "dedicatedCoreQuotaPerVMFamily",
            "dedicatedCoreQuotaPerVMFamilyEnforced",
            "activeJobAndJobScheduleQuota",
        ):
            if key in a:
                props[key] = copy.deepcopy(a[key])
        if existing is None:
            world.put(
                Resource(
                    aid,
                    T_ACCOUNT,
                    a["name"],
                    loc,
                    props,
                    tags=dict(a.get("tags") or {}),
                    extra={"identity": {"type": "None"}},
                )
            )
        for pool in a.get("pools") or []:
            pid = f"{aid}/pools/{pool['name']}"
            if world.exists(pid):
                continue
            body = {"properties": {k: v for k, v in pool.items() if k != "name"}}
            res = _new_pool(world, pid, pool["name"], body)
            world.put(res)
            _begin_scale(world, res, world.clock.now())


def pool_view(world: World, res: Resource) -> JSON:
    body: JSON = {"id": res.id, "name": res.name, "type": res.type, "etag": res.etag}
    body["properties"] = pool_properties.hide_secrets(res.properties)
    if res.tags:
        body["tags"] = dict(res.tags)
    body.update(copy.deepcopy(res.extra))
    return body


def account_view(world: World, res: Resource) -> JSON:
    body: JSON = {"id": res.id, "name": res.name, "type": res.type, "location": res.location}
    if res.tags:
        body["tags"] = dict(res.tags)
    body.update(copy.deepcopy(res.extra))
    body["properties"] = copy.deepcopy(res.properties)
    return body


def _refresh(world: World, res: Resource) -> None:
    refresh_pool(world, res)


# ---------------------------------------------------------------------------- accounts


async def accounts_get(ctx: Ctx) -> web.StreamResponse:
    p = ctx.params
    res = ctx.world.get(account_id(p["sub"], p["rg"], p["account"]))
    if res is None:
        raise not_found(T_ACCOUNT, p["account"], p["rg"])
    return ok(ctx.world.view(res))


async def accounts_list(ctx: Ctx) -> web.StreamResponse:
    p = ctx.params
    prefix = f"/subscriptions/{p['sub']}/resourcegroups/{p['rg']}/".lower()
    return listing(
        [ctx.world.view(r) for r in ctx.world.by_type(T_ACCOUNT) if r.id.lower().startswith(prefix)]
    )


def _account(ctx: Ctx) -> Resource:
    p = ctx.params
    res = ctx.world.get(account_id(p["sub"], p["rg"], p["account"]))
    if res is None:
        raise not_found(T_ACCOUNT, p["account"], p["rg"])
    return res


# ---------------------------------------------------------------------------- pools


def _pool_id(ctx: Ctx) -> str:
    p = ctx.params
    return f"{account_id(p['sub'], p['rg'], p['account'])}/pools/{p['pool']}"


def _pool_or_404(ctx: Ctx) -> Resource:
    _account(ctx)
    res = ctx.world.get(_pool_id(ctx))
    if res is None:
        raise _batch_error(404, "PoolNotFound", "The specified pool does not exist.")
    return res


def _batch_error(status: int, code: str, message: str) -> ArmError:
    """An error as the Batch RP words it: message, RequestId and Time lines, target BatchAccount."""
    return ArmError(
        status, code, f"{message}\nRequestId:{uuid.uuid4()}\nTime:{iso(time.time())}", target="BatchAccount"
    )


def _pool_response(ctx: Ctx, res: Resource, status: int = 200) -> web.Response:
    return ok(ctx.world.view(res), status=status, headers={"ETag": res.etag or ""})


def _check_if_match(ctx: Ctx, res: Resource | None, if_none_match: bool = False) -> None:
    """Batch's conditional headers (Pool_Create / Pool_Update / Pool_Delete in 2025-06-01).

    If-Match: "*" applies only to an existing pool, an ETag only to that version of it.
    If-None-Match (Pool_Create only): "*" allows creating a new pool but not updating an existing
    one; the spec says other values are ignored.
    """
    if_match = ctx.request.headers.get("If-Match")
    unmet = _batch_error(
        412, "ConditionNotMet", "The condition specified using HTTP conditional header(s) is not met."
    )
    if if_match is not None and (res is None or if_match.strip() not in ("*", res.etag)):
        raise unmet
    if_none = ctx.request.headers.get("If-None-Match") if if_none_match else None
    if if_none is not None and res is not None and if_none.strip() == "*":
        raise unmet


def _new_pool(world: World, pid: str, name: str, body: JSON) -> Resource:
    props_in: JSON = body.get("properties") or {}
    now = world.clock.now()
    props = {k: copy.deepcopy(v) for k, v in props_in.items() if k not in REMOVED}
    props.setdefault("interNodeCommunication", "Disabled")
    props.setdefault("taskSlotsPerNode", 1)
    props.setdefault("taskSchedulingPolicy", {"nodeFillType": "Spread"})
    props.setdefault(
        "scaleSettings", {"fixedScale": {"targetDedicatedNodes": 0, "targetLowPriorityNodes": 0}}
    )
    fixed = props["scaleSettings"].get("fixedScale")
    if fixed is not None:
        fixed.setdefault("targetDedicatedNodes", 0)
        fixed.setdefault("targetLowPriorityNodes", 0)
        fixed.setdefault("resizeTimeout", "PT15M")
    if props["scaleSettings"].get("autoScale") is not None:
        props["scaleSettings"]["autoScale"].setdefault("evaluationInterval", "PT15M")
    props.update(
        {
            "creationTime": iso(now),
            "lastModified": iso(now),
            "provisioningState": "Succeeded",
            "provisioningStateTransitionTime": iso(now),
            "allocationState": "Steady",
            "allocationStateTransitionTime": iso(now),
            "currentDedicatedNodes": 0,
            "currentLowPriorityNodes": 0,
        }
    )
    props.pop("resizeOperationStatus", None)
    props.pop("autoScaleRun", None)
    res = Resource(pid, T_POOL, name, "", props, tags=dict(body.get("tags") or {}), etag=new_etag())
    if body.get("identity"):
        res.extra["identity"] = copy.deepcopy(body["identity"])
    res.state["alloc"] = {"cur_ded": 0, "cur_low": 0, "state": "Steady", "transition": now}
    return res


def _begin_scale(world: World, res: Resource, now: float) -> None:
    scale = res.properties.get("scaleSettings") or {}
    fixed = scale.get("fixedScale")
    if fixed is not None:
        start_resize(
            world,
            res,
            int(fixed.get("targetDedicatedNodes") or 0),
            int(fixed.get("targetLowPriorityNodes") or 0),
            parse_duration(fixed.get("resizeTimeout"), 900.0),
            fixed.get("nodeDeallocationOption"),
            now,
        )
    elif scale.get("autoScale") is not None:
        res.state["alloc"]["next_eval"] = 0
    refresh_pool(world, res)


def _validate_scale(scale: JSON) -> None:
    if not isinstance(scale, dict):
        raise _prop_error(
            400, "InvalidPropertyValue", "The value provided for scaleSettings is invalid.", "scaleSettings"
        )
    if scale.get("fixedScale") is not None and scale.get("autoScale") is not None:
        raise _prop_error(
            400,
            "InvalidPropertyValue",
            "Only one of fixedScale and autoScale may be specified.",
            "scaleSettings",
        )
    fixed = scale.get("fixedScale")
    if fixed is not None:
        for key in ("targetDedicatedNodes", "targetLowPriorityNodes"):
            v = fixed.get(key, 0)
            if not isinstance(v, int) or v < 0:
                raise _prop_error(
                    400,
                    "InvalidPropertyValue",
                    f"The value of {key} must be a non-negative integer.",
                    f"scaleSettings.fixedScale.{key}",
                )
        _check_duration(
            fixed.get("resizeTimeout"),
            "scaleSettings.fixedScale.resizeTimeout",
            300,
            None,
            "The resizeTimeout must be at least 5 minutes.",
        )
    auto = scale.get("autoScale")
    if auto is not None and not auto.get("formula"):
        raise _prop_error(
            400,
            "MissingRequiredProperty",
            "The autoScale formula is required.",
            "scaleSettings.autoScale.formula",
        )
    if auto is not None:
        try:
            formula.validate(str(auto["formula"]))
        except formula.FormulaError as exc:
            raise _prop_error(400, exc.code, str(exc), "scaleSettings.autoScale.formula") from exc
        _check_duration(
            auto.get("evaluationInterval"),
            "scaleSettings.autoScale.evaluationInterval",
            300,
            168 * 3600,
            "The evaluationInterval must be between 5 minutes and 168 hours.",
        )


def _check_duration(value: object, path: str, low: float, high: float | None, message: str) -> None:
    """An ISO 8601 duration property within [low, high] seconds (default PT15M when absent)."""
    try:
        secs = parse_duration(None if value is None else str(value), 900.0)
    except ValueError as exc:
        raise _prop_error(400, "InvalidPropertyValue", str(exc), path) from exc
    if secs < low or (high is not None and secs > high):
        raise _prop_error(400, "InvalidPropertyValue", message, path)


def _validate_image(ctx: Ctx, account: Resource, image_id: str) -> None:
    path = "deploymentConfiguration.virtualMachineConfiguration.imageReference.id"
    low = image_id.lower()
    is_managed = "/providers/microsoft.compute/images/" in low
    is_gallery = "/providers/microsoft.compute/galleries/" in low and "/versions/" in low
    if is_managed and ctx.world.cfg("batch").get("managedImagePoolsRetired", True):
        raise _prop_error(
            400,
            "InvalidPropertyValue",
            "Creating pools from managed images (Microsoft.Compute/images) is no longer supported. "
            "Publish the image to an Azure Compute Gallery and use the gallery image version id "
            "(https://learn.microsoft.com/azure/batch/batch-custom-image-pools-to-azure-compute-gallery-migration-guide).",
            path,
        )
    if not (is_managed or is_gallery or "/providers/microsoft.compute/galleries/" in low):
        return
    image = ctx.world.get(image_id)
    if image is None or image.properties.get("provisioningState") == "Deleting":
        raise _prop_error(
            400,
            "InvalidPropertyValue",
            f"The specified image '{image_id}' does not exist or the Batch service cannot access it.",
            path,
            reason="ImageNotFound",
        )
    if is_managed and image.location != account.location:
        raise _prop_error(
            400,
            "InvalidPropertyValue",
            f"The managed image '{image_id}' is in region "
            f"'{image.location}', but the Batch account is in '{account.location}'.",
            path,
            reason="ImageRegionMismatch",
        )
    if is_gallery:
        regions = [
            region(t.get("name"))
            for t in image.properties.get("publishingProfile", {}).get("targetRegions", [])
        ]
        if account.location not in regions:
            raise _prop_error(
                400,
                "InvalidPropertyValue",
                f"The gallery image version '{image_id}' is not "
                f"replicated to the Batch account's region '{account.location}'.",
                path,
                reason="ImageRegionMismatch",
            )


async def pools_put(ctx: Ctx) -> web.StreamResponse:
    account = _account(ctx)
    pid = _pool_id(ctx)
    existing = ctx.world.get(pid)
    _check_if_match(ctx, existing, if_none_match=True)
    body = await ctx.body()
    props_in: JSON = body.get("properties") or {}
    if existing is not None:
        if existing.properties.get("provisioningState") == "Deleting":
            raise ArmError(
                409,
                "PoolBeingDeleted",
                "The specified pool has been marked for deletion and is being reclaimed.",
            )
        # A PUT on an existing pool replaces it (Learn, "Update Batch pool properties"): allowed
        # only where a PATCH of the same properties is, i.e. an empty pool for most of them.
        return await _apply_update(ctx, existing, props_in, body, replace=True)
    name = ctx.params["pool"]
    if not POOL_NAME.match(name):
        raise ArmError(
            400,
            "InvalidPoolName",
            f"The pool name '{name}' is invalid: it must be 1-64 characters of "
            "letters, digits, hyphens and underscores.",
        )
    if not props_in.get("vmSize"):
        raise _prop_error(
            400,
            "MissingRequiredProperty",
            "A required property was not specified in the request body.",
            "vmSize",
        )
    vmc = (props_in.get("deploymentConfiguration") or {}).get("virtualMachineConfiguration")
    if not vmc:
        raise _prop_error(
            400,
            "MissingRequiredProperty",
            "A required property was not specified in the request body.",
            "deploymentConfiguration.virtualMachineConfiguration",
        )
    if not vmc.get("nodeAgentSkuId"):
        raise _prop_error(
            400,
            "MissingRequiredProperty",
            "A required property was not specified in the request body.",
            "deploymentConfiguration.virtualMachineConfiguration.nodeAgentSkuId",
        )
    ref = vmc.get("imageReference") or {}
    if not ref.get("id") and not (ref.get("publisher") and ref.get("offer") and ref.get("sku")):
        raise _prop_error(
            400,
            "MissingRequiredProperty",
            "A required property was not specified in the request body.",
            "deploymentConfiguration.virtualMachineConfiguration.imageReference",
        )
    if skus.find(ctx.world, account.location, str(props_in["vmSize"])) is None:
        raise _prop_error(
            400,
            "InvalidPropertyValue",
            "The value provided for one of the properties in the request body is invalid.",
            "vmSize",
            reason=f"The VM size '{props_in['vmSize']}' is not supported by Batch in region "
            f"'{account.location}' (see Location_ListSupportedVirtualMachineSkus).",
        )
    if ref.get("id"):
        _validate_image(ctx, account, str(ref["id"]))
    _validate_scale(props_in.get("scaleSettings") or {})
    pool_properties.validate(ctx.world, account, props_in, body.get("identity"))
    quota = int(account.properties.get("poolQuota", 100))
    if len(ctx.world.children(account.id, T_POOL)) >= quota:
        raise ArmError(
            409,
            "PoolQuotaReached",
            f"The specified account has reached its pool quota of {quota}.",
            target="BatchAccount",
        )
    res = _new_pool(ctx.world, pid, name, body)
    pool_properties.on_create(res, body)
    ctx.world.put(res)
    _begin_scale(ctx.world, res, ctx.world.clock.now())
    return _pool_response(ctx, res)


async def _apply_update(
    ctx: Ctx, res: Resource, props_in: JSON, body: JSON, replace: bool = False
) -> web.Response:
    world = ctx.world
    refresh_pool(world, res)
    pool_properties.check_update(res, props_in)
    identity = body.get("identity") if "identity" in body else res.extra.get("identity")
    pool_properties.validate(world, _account(ctx), props_in, identity, current=res.properties)
    scale = props_in.get("scaleSettings")
    rescale = False
    if scale is not None:
        _validate_scale(scale)
        fixed_in = scale.get("fixedScale")
        behind = fixed_in is not None and (
            int(fixed_in.get("targetDedicatedNodes") or 0)
            != int(res.properties.get("currentDedicatedNodes", 0))
            or int(fixed_in.get("targetLowPriorityNodes") or 0)
            != int(res.properties.get("currentLowPriorityNodes", 0))
        )
        # a fixedScale in the request is a resize request: it starts a new resize when the values changed
        # or when the pool is below/above them (e.g. after AllocationTimedOut): "resize again".
        repeat_starts = bool(world.cfg("batch").get("identicalScalePatchStartsResize", True))
        if scale != res.properties.get("scaleSettings") or (behind and repeat_starts):
            if res.properties.get("allocationState") != "Steady" and scale.get("fixedScale") is not None:
                raise _batch_error(409, "PoolBeingResized", "The specified pool is being resized.")
            new_scale = copy.deepcopy(scale)
            fixed = new_scale.get("fixedScale")
            if fixed is not None:
                fixed.setdefault("targetDedicatedNodes", 0)
                fixed.setdefault("targetLowPriorityNodes", 0)
                fixed.setdefault("resizeTimeout", "PT15M")
            if new_scale.get("autoScale") is not None:
                new_scale["autoScale"].setdefault("evaluationInterval", "PT15M")
            res.properties["scaleSettings"] = new_scale
            rescale = True
    pool_properties.apply(res, props_in, body, replace=replace)
    if "tags" in body:
        res.tags = dict(body.get("tags") or {})
    now = world.clock.now()
    res.properties["lastModified"] = iso(now)
    res.etag = new_etag()
    if rescale:
        if res.properties["scaleSettings"].get("autoScale") is None:
            res.state["alloc"].pop("autoscale_run", None)
            res.properties.pop("autoScaleRun", None)
        _begin_scale(world, res, now)
    return _pool_response(ctx, res)


async def pools_patch(ctx: Ctx) -> web.StreamResponse:
    res = _pool_or_404(ctx)
    _check_if_match(ctx, res)
    if res.properties.get("provisioningState") == "Deleting":
        raise ArmError(
            409, "PoolBeingDeleted", "The specified pool has been marked for deletion and is being reclaimed."
        )
    body = await ctx.body()
    return await _apply_update(ctx, res, body.get("properties") or {}, body)


async def pools_get(ctx: Ctx) -> web.StreamResponse:
    return _pool_response(ctx, _pool_or_404(ctx))


def _select(view: JSON, select: str) -> JSON:
    """``$select=properties/a,properties/b``: Pool_ListByBatchAccount documents that only top-level
    properties under ``properties/`` may be selected; id, name, type and etag always come back."""
    wanted = {s.strip().removeprefix("properties/") for s in select.split(",") if s.strip()}
    props = view.get("properties") or {}
    kept = {k: v for k, v in view.items() if k != "properties"}
    kept["properties"] = {k: v for k, v in props.items() if k in wanted}
    return kept


async def pools_list(ctx: Ctx) -> web.StreamResponse:
    """Pool_ListByBatchAccount: ``maxresults`` caps a page (``batch.pageSize`` when absent or larger),
    ``nextLink`` carries on from where the page ended (``$skiptoken``), ``$select`` trims properties."""
    account = _account(ctx)
    pools = sorted(ctx.world.children(account.id, T_POOL), key=lambda r: r.name.lower())
    query = ctx.request.query
    size = max(1, int(ctx.world.cfg("batch").get("pageSize", 1000)))
    if query.get("maxresults", "").isdigit():
        size = max(1, min(size, int(query["maxresults"])))
    token = query.get("$skiptoken", "")
    skip = int(token) if token.isdigit() else 0
    items = [ctx.world.view(r) for r in pools[skip : skip + size]]
    if query.get("$select"):
        items = [_select(item, query["$select"]) for item in items]
    body: JSON = {"value": items}
    if skip + size < len(pools):
        params = {k: v for k, v in query.items() if k != "$skiptoken"}
        params["$skiptoken"] = str(skip + size)
        body["nextLink"] = f"{ctx.base_url}{ctx.path}?{urlencode(params)}"
    return ok(body)


def _pool_deleted(world: World, op: Operation) -> None:
    world.delete(op.resource_id)


async def pools_delete(ctx: Ctx) -> web.StreamResponse:
    account = _account(ctx)
    res = ctx.world.get(_pool_id(ctx))
    if res is None:
        return web.Response(status=204)
    _check_if_match(ctx, res)
    world = ctx.world
    op_id = res.state.get("delete_op")
    op = world.operations.get(op_id) if op_id else None
    if op is None:
        refresh_pool(world, res)
        nodes = int(res.properties.get("currentDedicatedNodes", 0)) + int(
            res.properties.get("currentLowPriorityNodes", 0)
        )
        secs = float(world.cfg("batch").get("deleteSeconds", 60)) + nodes * 0.05
        res.properties["provisioningState"] = "Deleting"
        res.properties["provisioningStateTransitionTime"] = iso(world.clock.now())
        res.state["alloc"]["resize"] = None
        res.state["alloc"]["state"] = "Stopping" if nodes else "Steady"
        res.etag = new_etag()
        op_id = f"delete-{res.name}-{uuid.uuid4().hex[:15].upper()}"
        op = world.start_operation(
            res.id, "delete", secs, account.location, "Microsoft.Batch", _pool_deleted, op_id=op_id
        )
        res.state["delete_op"] = op.id
    # As PoolDelete.json: 202 + Location .../poolOperationResults/delete-<pool>-<hex> + Retry-After.
    url = f"{ctx.base_url}{account.id}/poolOperationResults/{op.id}?api-version={ctx.api_version}"
    headers = {"Location": url}
    ra = ctx.retry_after(op.done_at - world.clock.now())
    if ra:
        headers["Retry-After"] = ra
    return web.Response(status=202, headers=headers)


async def operation_results(ctx: Ctx) -> web.StreamResponse:
    _account(ctx)
    op = ctx.world.operations.get(ctx.params["op"])
    if op is None:
        raise ArmError(404, "OperationNotFound", f"The operation '{ctx.params['op']}' was not found.")
    if op.status == "InProgress":
        headers = {"Location": str(ctx.request.url)}
        ra = ctx.retry_after(op.done_at - ctx.world.clock.now())
        if ra:
            headers["Retry-After"] = ra
        return web.Response(status=202, headers=headers)
    return web.Response(status=200)


async def pools_stop_resize(ctx: Ctx) -> web.StreamResponse:
    res = _pool_or_404(ctx)
    stop_resize(ctx.world, res, ctx.world.clock.now())
    res.etag = new_etag()
    refresh_pool(ctx.world, res)
    return _pool_response(ctx, res)


async def pools_disable_autoscale(ctx: Ctx) -> web.StreamResponse:
    res = _pool_or_404(ctx)
    refresh_pool(ctx.world, res)
    scale = res.properties.get("scaleSettings") or {}
    if scale.get("autoScale") is not None:
        status: JSON = res.properties.get("resizeOperationStatus") or {}
        props = res.properties
        ded = int(status.get("targetDedicatedNodes") or props.get("currentDedicatedNodes") or 0)
        low = int(status.get("targetLowPriorityNodes") or props.get("currentLowPriorityNodes") or 0)
        props["scaleSettings"] = {
            "fixedScale": {
                "targetDedicatedNodes": ded,
                "targetLowPriorityNodes": low,
                "resizeTimeout": "PT15M",
            }
        }
        res.properties.pop("autoScaleRun", None)
        res.state["alloc"].pop("autoscale_run", None)
        res.properties["lastModified"] = iso(ctx.world.clock.now())
        res.etag = new_etag()
    return _pool_response(ctx, res)


async def location_skus(ctx: Ctx) -> web.StreamResponse:
    return listing(skus.listing(ctx.world, region(ctx.params["loc"])))


def register(arm: Arm, world: World) -> None:
    a0 = arm.add
    a0(
        "GET",
        SUB + r"/providers/Microsoft.Batch/locations/(?P<loc>[^/]+)/virtualMachineSkus",
        "Location_ListSupportedVirtualMachineSkus",
        "read",
        "Microsoft.Batch/locations/virtualMachineSkus/read",
        "batch",
        location_skus,
        rbac=False,
    )
    acct = RG + P + r"/(?P<account>[^/]+)"
    pool = acct + r"/pools/(?P<pool>[^/]+)"
    a = arm.add
    a("GET", acct, "BatchAccount_Get", "read", "Microsoft.Batch/batchAccounts/read", "batch", accounts_get)
    a(
        "GET",
        RG + P,
        "BatchAccount_ListByResourceGroup",
        "read",
        "Microsoft.Batch/batchAccounts/read",
        "batch",
        accounts_list,
        1,
    )
    a(
        "GET",
        acct + "/pools",
        "Pool_ListByBatchAccount",
        "read",
        "Microsoft.Batch/batchAccounts/pools/read",
        "batch",
        pools_list,
        1,
    )
    a("GET", pool, "Pool_Get", "read", "Microsoft.Batch/batchAccounts/pools/read", "batch", pools_get)
    a("PUT", pool, "Pool_Create", "write", "Microsoft.Batch/batchAccounts/pools/write", "batch", pools_put)
    a(
        "PATCH",
        pool,
        "Pool_Update",
        "write",
        "Microsoft.Batch/batchAccounts/pools/write",
        "batch",
        pools_patch,
    )
    a(
        "DELETE",
        pool,
        "Pool_Delete",
        "delete",
        "Microsoft.Batch/batchAccounts/pools/delete",
        "batch",
        pools_delete,
    )
    a(
        "POST",
        pool + "/stopResize",
        "Pool_StopResize",
        "action",
        "Microsoft.Batch/batchAccounts/pools/stopResize/action",
        "batch",
        pools_stop_resize,
        1,
    )
    a(
        "POST",
        pool + "/disableAutoScale",
        "Pool_DisableAutoScale",
        "action",
        "Microsoft.Batch/batchAccounts/pools/disableAutoScale/action",
        "batch",
        pools_disable_autoscale,
        1,
    )
    a(
        "GET",
        acct + r"/poolOperationResults/(?P<op>[^/]+)",
        "BatchOperationResults_Get",
        "read",
        "Microsoft.Batch/batchAccounts/operationResults/read",
        "batch",
        operation_results,
        rbac=False,
    )
    world.views[T_POOL.lower()] = pool_view
    world.views[T_ACCOUNT.lower()] = account_view
    world.refreshers[T_POOL.lower()] = _refresh
    world.seeders.append(seed_resource_group)
    world.seeders.append(pool_properties.seed_resource_group)
    _ = allocation  # re-exported for tests
