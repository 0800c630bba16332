"""What every Microsoft.Compute area shares: ids, lookups, LRO start/finish and the status URLs.

Compute, Disk RP and Gallery RP answer long-running operations the same way (201/202 with
`Azure-AsyncOperation` + `Location`, a status document at `.../locations/{l}/{segment}/{id}`), so
the operation-status route and the helpers that start and finish operations live here once.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from azuresim.arm import Arm, Ctx, listing, ok, operation_status_body
from azuresim.errors import JSON, ArmError, not_found
from azuresim.world import Operation, Resource, World, key_of, region

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


def get_or_404(ctx: Ctx, res_id: str, rtype: str, name: str) -> Resource:
    res = ctx.world.get(res_id)
    if res is None or res.type.lower() != rtype.lower():
        raise not_found(rtype, name, ctx.params["rg"])
    return res


def location_of(ctx: Ctx, body: JSON) -> str:
    loc = body.get("location")
    if not loc:
        raise ArmError(400, "LocationRequired", "The location property is required for this definition.")
    return region(str(loc))


def finish(state: str = "Succeeded") -> Any:
    def done(world: World, op: Operation) -> None:
        res = world.resources.get(key_of(op.resource_id))
        if res is not None:
            res.properties["provisioningState"] = "Failed" if op.status == "Failed" else state
            fin = res.state.pop("on_succeeded", None)
            if callable(fin) and op.status != "Failed":
                fin(world, res)

    return done


def delete_done(world: World, op: Operation) -> None:
    world.delete(op.resource_id)


def begin_delete(ctx: Ctx, res: Resource, seconds: float, kind: str) -> web.Response:
    if res.properties.get("provisioningState") == "Deleting" and res.state.get("delete_op"):
        op = ctx.world.operations[res.state["delete_op"]]
    else:
        res.properties["provisioningState"] = "Deleting"
        op = ctx.world.start_operation(
            res.id, "delete", seconds, res.location, "Microsoft.Compute", delete_done
        )
        res.state["delete_op"] = op.id
    return web.Response(status=202, headers=ctx.compute_lro_headers(op, kind))


def view(ctx: Ctx, res: Resource) -> JSON:
    return ctx.world.view(res)


# ---------------------------------------------------------------------------- disks / VMs


def list_rg(ctx: Ctx, rtype: str) -> web.Response:
    p = ctx.params
    prefix = f"/subscriptions/{p['sub']}/resourcegroups/{p['rg']}/".lower()
    items = [view(ctx, r) for r in ctx.world.by_type(rtype) if r.id.lower().startswith(prefix)]
    return listing(items)


# ---------------------------------------------------------------------------- snapshots


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
                return ok(view(ctx, res))
        return web.Response(status=200)
    headers = {}
    if op.status == "InProgress":
        ra = ctx.retry_after(op.done_at - ctx.world.clock.now())
        if ra:
            headers["Retry-After"] = ra
    return ok(operation_status_body(op), headers=headers)


# ---------------------------------------------------------------------------- registration


def register(arm: Arm) -> None:
    ops = r"/subscriptions/(?P<sub>[^/]+)/providers/Microsoft.Compute/locations/(?P<loc>[^/]+)/"
    for seg, opname in (
        ("operations", "ComputeOperations_Get"),
        ("DiskOperations", "DiskOperations_Get"),
        ("capsOperations", "GalleryOperations_Get"),
    ):
        arm.add(
            "GET",
            ops + seg + r"/(?P<op>[^/]+)",
            opname,
            "read",
            "Microsoft.Compute/locations/operations/read",
            "compute-ops",
            operation_status,
            rbac=False,
        )
