"""Batch node allocation, computed lazily from the simulated clock.

A resize moves node counts linearly at `batch.nodesPerMinute` toward an *achievable* target that
accounts for the account core quotas, the per-managed-image node limit and `batch.maxNodesPerResize`.
It ends Steady when the achievable target is reached (with a quota/limit error if it was below the
requested target) or when `resizeTimeout` expires (AllocationTimedOut, with the nodes it got).
"""

from __future__ import annotations

import math
import re
from typing import Any

from azuresim.clock import iso
from azuresim.errors import JSON
from azuresim.world import Resource, World

T_POOL = "Microsoft.Batch/batchAccounts/pools"
T_ACCOUNT = "Microsoft.Batch/batchAccounts"

VM_CORES: dict[str, int] = {
    "standard_a1_v2": 1,
    "standard_a2_v2": 2,
    "standard_a4_v2": 4,
    "standard_a8_v2": 8,
    "standard_d2s_v3": 2,
    "standard_d4s_v3": 4,
    "standard_d8s_v3": 8,
    "standard_d16s_v3": 16,
    "standard_d2s_v5": 2,
    "standard_d4s_v5": 4,
    "standard_d8s_v5": 8,
    "standard_d16s_v5": 16,
    "standard_d32s_v5": 32,
    "standard_d48s_v5": 48,
    "standard_d64s_v5": 64,
    "standard_d96s_v5": 96,
    "standard_d2_v5": 2,
    "standard_d4_v5": 4,
    "standard_d8_v5": 8,
    "standard_d16_v5": 16,
    "standard_e2s_v5": 2,
    "standard_e4s_v5": 4,
    "standard_e8s_v5": 8,
    "standard_e16s_v5": 16,
    "standard_f2s_v2": 2,
    "standard_f4s_v2": 4,
    "standard_f8s_v2": 8,
    "standard_f16s_v2": 16,
    "standard_f32s_v2": 32,
    "standard_f64s_v2": 64,
    "standard_f72s_v2": 72,
    "standard_hb120rs_v3": 120,
    "standard_hc44rs": 44,
    "standard_nc6s_v3": 6,
    "standard_nc12s_v3": 12,
    "standard_nc24s_v3": 24,
    "standard_nc4as_t4_v3": 4,
    "standard_nc8as_t4_v3": 8,
    "standard_nc16as_t4_v3": 16,
    "standard_nc64as_t4_v3": 64,
    "standard_nc24ads_a100_v4": 24,
    "standard_nc48ads_a100_v4": 48,
    "standard_nc96ads_a100_v4": 96,
    "standard_nd96asr_v4": 96,
}


def vm_cores(vm_size: str) -> int:
    key = vm_size.lower()
    if key in VM_CORES:
        return VM_CORES[key]
    m = re.match(r"standard_[a-z]+?(\d+)", key)
    return int(m.group(1)) if m and int(m.group(1)) > 0 else 2


def vm_family(vm_size: str) -> str:
    """Standard_D4s_v5 -> standardDSv5Family (the naming Batch uses for per-family quotas)."""
    m = re.match(r"standard_([a-z]+)\d+([a-z]*)(?:_([a-z0-9]+))?", vm_size.lower())
    if not m:
        return "standardFamily"
    series = m.group(1).upper()
    suffix = m.group(2).upper()
    ver = m.group(3) or ""
    return f"standard{series}{suffix}{ver}Family"


def image_id_of(pool: Resource) -> str:
    vmc = pool.properties.get("deploymentConfiguration", {}).get("virtualMachineConfiguration", {})
    return str(vmc.get("imageReference", {}).get("id") or "")


def _alloc(pool: Resource) -> JSON:
    alloc = pool.state.setdefault("alloc", {})
    assert isinstance(alloc, dict)
    return alloc


def _committed(pool: Resource) -> tuple[int, int]:
    """Nodes a pool holds or is about to hold (its achievable target while resizing)."""
    a = _alloc(pool)
    r = a.get("resize")
    ded, low = int(a.get("cur_ded", 0)), int(a.get("cur_low", 0))
    if r:
        return max(ded, int(r["ach_ded"])), max(low, int(r["ach_low"]))
    return ded, low


def _error(code: str, message: str, details: list[JSON] | None = None) -> JSON:
    return {"code": code, "message": message, "details": details or []}


def account_of(pool_id: str) -> str:
    return pool_id.rsplit("/pools/", 1)[0]


def start_resize(
    world: World,
    pool: Resource,
    tgt_ded: int,
    tgt_low: int,
    timeout_s: float,
    dealloc: str | None,
    now: float,
) -> None:
    """Begin a resize toward (tgt_ded, tgt_low) at simulated time `now`."""
    batch = world.cfg("batch")
    a = _alloc(pool)
    from_ded, from_low = int(a.get("cur_ded", 0)), int(a.get("cur_low", 0))
    rate = max(1e-6, float(batch.get("nodesPerMinute", 200)) / 60.0)
    status: JSON = {
        "targetDedicatedNodes": tgt_ded,
        "targetLowPriorityNodes": tgt_low,
        "resizeTimeout": _iso_duration(timeout_s),
        "startTime": iso(now),
    }
    # Batch reports the option in force, Requeue when none was given (PoolCreate_Tags.json).
    status["nodeDeallocationOption"] = dealloc or "Requeue"
    a["status"] = status
    a["state"] = "Resizing"
    a["transition"] = now
    if tgt_ded == from_ded and tgt_low == from_low:
        a["state"] = "Steady"
        a["resize"] = None
        return
    error: JSON | None = None
    image_id = image_id_of(pool)
    image = world.get(image_id) if image_id else None
    image_gone = (
        bool(image_id)
        and "/providers/microsoft.compute/" in image_id.lower()
        and (image is None or image.properties.get("provisioningState") == "Deleting")
    )
    grows = tgt_ded > from_ded or tgt_low > from_low
    failure: JSON | None = None
    if image_gone and grows:
        failure = _error(
            "AllocationFailed",
            f"Allocation failed because the image '{image_id}' referenced by the pool no "
            "longer exists or "
            "the Batch service cannot access it. The image must exist for the whole life of the pool.",
            [{"code": "Reason", "message": "ImageNotFound"}],
        )
    elif grows:
        from azuresim import skus  # the SKU catalogue imports this module

        acct = world.get(account_of(pool.id))
        failure = skus.allocation_failure(world, pool, acct.location if acct else "", tgt_low > from_low)
    if failure is not None:
        end = now + min(timeout_s, float(batch.get("imageFailureSeconds", 60)))
        a["resize"] = {
            "start": now,
            "from_ded": from_ded,
            "from_low": from_low,
            "ach_ded": from_ded,
            "ach_low": from_low,
            "end": end,
            "error": failure,
        }
        return
    ach_ded, ach_low = tgt_ded, tgt_low
    cores = vm_cores(str(pool.properties.get("vmSize", "")))
    account = world.get(account_of(pool.id))
    others = [
        p
        for p in world.by_type(T_POOL)
        if p.id.lower() != pool.id.lower() and account_of(p.id).lower() == account_of(pool.id).lower()
    ]
    if account is not None:
        props = account.properties
        used_ded = sum(_committed(p)[0] * vm_cores(str(p.properties.get("vmSize", ""))) for p in others)
        used_low = sum(_committed(p)[1] * vm_cores(str(p.properties.get("vmSize", ""))) for p in others)
        quota_ded = int(props.get("dedicatedCoreQuota", 0))
        quota_low = int(props.get("lowPriorityCoreQuota", 0))
        max_ded = max(0, (quota_ded - used_ded) // cores)
        max_low = max(0, (quota_low - used_low) // cores)
        # Per-VM-family dedicated quota (on by default, as on new Batch accounts): cores of the same
        # family across the account's pools; a family the account lists no quota for gets the
        # account's total (Azure lists every family; the world file names the ones a test limits).
        family = vm_family(str(pool.properties.get("vmSize", "")))
        family_quota: int | None = None
        if props.get("dedicatedCoreQuotaPerVMFamilyEnforced", True):
            for q in props.get("dedicatedCoreQuotaPerVMFamily") or []:
                if str(q.get("name", "")).lower() == family.lower():
                    family_quota = int(q.get("coreQuota", 0))
        max_family = max_ded
        if family_quota is not None:
            used_family = sum(
                _committed(p)[0] * vm_cores(str(p.properties.get("vmSize", "")))
                for p in others
                if vm_family(str(p.properties.get("vmSize", ""))).lower() == family.lower()
            )
            max_family = max(0, (family_quota - used_family) // cores)
        if ach_ded > from_ded and ach_ded > min(max_ded, max_family):
            ach_ded = max(from_ded, min(max_ded, max_family))
            if max_family < max_ded:
                error = _error(
                    "AccountVMSeriesCoreQuotaReached",
                    f"The specified account has reached its dedicated core quota of {family_quota} cores "
                    f"for the {family} VM series. {cores} cores per node ({pool.properties.get('vmSize')}) "
                    f"were requested for {tgt_ded} nodes.",
                )
            else:
                error = _error(
                    "AccountCoreQuotaReached",
                    f"The specified account has reached its dedicated core quota of {quota_ded} cores. "
                    f"{cores} cores per node ({pool.properties.get('vmSize')}) were requested for "
                    f"{tgt_ded} nodes.",
                )
        if ach_low > from_low and ach_low > max_low:
            ach_low = max(from_low, max_low)
            # UserSubscription accounts draw Spot cores from the subscription's Spot quota.
            spot = str(props.get("poolAllocationMode", "BatchService")).lower() == "usersubscription"
            error = error or _error(
                "AccountSpotCoreQuotaReached" if spot else "AccountLowPriorityCoreQuotaReached",
                f"The specified account has reached its {'Spot' if spot else 'low-priority'} core "
                f"quota of {quota_low} cores.",
            )
    if image_id and "/providers/microsoft.compute/images/" in image_id.lower():
        sharing = [
            p
            for p in world.by_type(T_POOL)
            if p.id.lower() != pool.id.lower() and image_id_of(p).lower() == image_id.lower()
        ]
        lim_ded = int(batch.get("managedImageDedicatedNodeLimit", 2500))
        lim_low = int(batch.get("managedImageLowPriorityNodeLimit", 1000))
        o_ded = sum(_committed(p)[0] for p in sharing)
        o_low = sum(_committed(p)[1] for p in sharing)
        if ach_ded > from_ded and ach_ded + o_ded > lim_ded:
            ach_ded = max(from_ded, lim_ded - o_ded)
            error = error or _error(
                "ImageNodeLimitReached",
                f"Pools created from the managed image '{image_id}' can have at most {lim_ded} "
                "dedicated nodes "
                f"in total across all pools that use it; {o_ded} are already in use by other pools.",
            )
        if ach_low > from_low and ach_low + o_low > lim_low:
            ach_low = max(from_low, lim_low - o_low)
            error = error or _error(
                "ImageNodeLimitReached",
                f"Pools created from the managed image '{image_id}' can have at most {lim_low} low-priority "
                f"nodes in total across all pools that use it; {o_low} are already in use by other pools.",
            )
    capped = False
    max_add = int(batch.get("maxNodesPerResize", 0) or 0)
    grow_ded, grow_low = max(0, ach_ded - from_ded), max(0, ach_low - from_low)
    if max_add > 0 and grow_ded + grow_low > max_add:
        capped = True
        take_ded = min(grow_ded, max_add)
        ach_ded = from_ded + take_ded if grow_ded else ach_ded
        ach_low = from_low + min(grow_low, max_add - take_ded) if grow_low else ach_low
    moves = abs(ach_ded - from_ded) + abs(ach_low - from_low)
    needed = moves / rate
    draining = str(dealloc or "Requeue").lower() in WAIT_FOR_TASKS and not grows
    if draining:
        # TaskCompletion / RetainedData: a node running a task leaves only when the task ends.
        ends = [e for e in _task_ends(pool, now) if e > now]
        if ends:
            needed = max(needed, max(ends) - now)
    timed_out = _error(
        "AllocationTimedOut",
        "Desired number of dedicated and low-priority nodes could not be allocated due to a resize timeout.",
    )
    if capped or (needed > timeout_s and not draining):
        end, error = now + timeout_s, timed_out
    else:
        end = now + needed
    a["resize"] = {
        "start": now,
        "from_ded": from_ded,
        "from_low": from_low,
        "ach_ded": ach_ded,
        "ach_low": ach_low,
        "end": end,
        "error": error,
        "rate": rate,
        "timed_out": error is timed_out,
        "drain": draining,
    }


def _nodes_at(r: JSON, t: float) -> tuple[int, int]:
    rate = float(r.get("rate") or 1.0)
    elapsed = max(0.0, min(t, float(r["end"])) - float(r["start"]))
    moved = math.floor(elapsed * rate + 1e-6)
    ded_delta, low_delta = int(r["ach_ded"]) - int(r["from_ded"]), int(r["ach_low"]) - int(r["from_low"])
    step_ded = min(abs(ded_delta), moved)
    step_low = min(abs(low_delta), moved - step_ded)
    ded = int(r["from_ded"]) + (step_ded if ded_delta >= 0 else -step_ded)
    low = int(r["from_low"]) + (step_low if low_delta >= 0 else -step_low)
    if t >= float(r["end"]) and not r.get("timed_out"):
        return int(r["ach_ded"]), int(r["ach_low"])
    return ded, low


#: nodeDeallocationOption values that wait for running tasks before a node leaves (Batch's
#: ComputeNodeDeallocationOption: Requeue and Terminate stop the tasks and remove the node at once).
WAIT_FOR_TASKS = frozenset({"taskcompletion", "retaineddata"})


def _task_ends(pool: Resource, now: float) -> list[float]:
    """When the tasks of the pool's ``running`` nodes (``POST /_sim/nodes``) end."""
    special = (pool.state.get("nodes") or {}).get("special") or {}
    return [float(r.get("taskEnds", now)) for r in special.values() if r.get("state") == "running"]


def _busy(pool: Resource, t: float) -> tuple[int, int]:
    """Dedicated and low-priority nodes still running a task at ``t``."""
    nodes = pool.state.get("nodes") or {}
    special = nodes.get("special") or {}

    def count(key: str) -> int:
        return sum(
            1
            for i in nodes.get(key) or []
            if (special.get(i) or {}).get("state") == "running" and float(special[i].get("taskEnds", t)) > t
        )

    return count("ded"), count("low")


def stop_resize(world: World, pool: Resource, now: float) -> None:
    refresh_pool(world, pool)
    a = _alloc(pool)
    if a.get("state") != "Resizing":
        return
    a["resize"] = None
    a["state"] = "Stopping"
    a["transition"] = now
    a["stop_end"] = now + float(world.cfg("batch").get("stopResizeSeconds", 30))
    status = a.setdefault("status", {})
    status["errors"] = [_error("ResizeStopped", "The resize operation was stopped by a stopResize request.")]


def refresh_pool(world: World, pool: Resource) -> None:
    """Bring allocation state up to the simulated present (idempotent, cheap)."""
    a = _alloc(pool)
    now = world.clock.now()
    _autoscale(world, pool, a, now)
    state = a.get("state", "Steady")
    if state == "Resizing" and a.get("resize"):
        r = a["resize"]
        if now >= float(r["end"]):
            a["cur_ded"], a["cur_low"] = _nodes_at(r, float(r["end"]))
            a["state"] = "Steady"
            a["transition"] = float(r["end"])
            status = a.setdefault("status", {})
            if r.get("error"):
                status["errors"] = [r["error"]]
            else:
                status.pop("errors", None)
            a["resize"] = None
        else:
            a["cur_ded"], a["cur_low"] = _nodes_at(r, now)
            if r.get("drain"):
                busy = _busy(pool, now)
                a["cur_ded"] = max(a["cur_ded"], min(int(r["from_ded"]), busy[0]))
                a["cur_low"] = max(a["cur_low"], min(int(r["from_low"]), busy[1]))
    elif state == "Stopping" and now >= float(a.get("stop_end", 0)):
        a["state"] = "Steady"
        a["transition"] = float(a.get("stop_end", now))
    props = pool.properties
    props["allocationState"] = a.get("state", "Steady")
    props["allocationStateTransitionTime"] = iso(float(a.get("transition", now)))
    props["currentDedicatedNodes"] = int(a.get("cur_ded", 0))
    props["currentLowPriorityNodes"] = int(a.get("cur_low", 0))
    if a.get("status"):
        props["resizeOperationStatus"] = dict(a["status"])
    if a.get("autoscale_run"):
        props["autoScaleRun"] = dict(a["autoscale_run"])


def _autoscale(world: World, pool: Resource, a: JSON, now: float) -> None:
    auto = pool.properties.get("scaleSettings", {}).get("autoScale")
    if not auto:
        return
    from azuresim.clock import parse_duration

    interval = max(300.0, parse_duration(auto.get("evaluationInterval"), 900.0))
    next_eval = float(a.get("next_eval", 0))
    if now < next_eval:
        return
    # evaluate at the scheduled time (not "now") so lazy refreshes do not drift
    eval_time = next_eval if next_eval else now
    while eval_time + interval <= now:
        eval_time += interval
    a["next_eval"] = eval_time + interval
    ded, low, results = evaluate_formula(str(auto.get("formula", "")))
    a["autoscale_run"] = {"evaluationTime": iso(eval_time), "results": results}
    if a.get("state", "Steady") == "Steady":
        start_resize(world, pool, ded, low, 900.0, None, eval_time)


def evaluate_formula(formula: str) -> tuple[int, int, str]:
    """A tiny autoscale evaluator: constant assignments to $TargetDedicatedNodes / $TargetLowPriorityNodes."""
    values: dict[str, Any] = {}
    for stmt in formula.split(";"):
        m = re.match(r"\s*(\$?\w+)\s*=\s*(.+?)\s*$", stmt, re.S)
        if not m:
            continue
        name, expr = m.group(1), m.group(2)
        num = re.fullmatch(r"-?\d+(\.\d+)?", expr)
        if num:
            values[name] = float(expr)
        elif expr in values:
            values[name] = values[expr]
        else:
            mm = re.fullmatch(r"(min|max)\((.+)\)", expr)
            if mm:
                args = [values.get(x.strip(), _num(x.strip())) for x in mm.group(2).split(",")]
                nums = [float(x) for x in args if x is not None]
                if nums:
                    values[name] = min(nums) if mm.group(1) == "min" else max(nums)
            else:
                values[name] = expr.strip().lower()
    ded = int(max(0.0, float(values.get("$TargetDedicatedNodes", 0) or 0)))
    low = int(max(0.0, float(values.get("$TargetLowPriorityNodes", 0) or 0)))
    dealloc = values.get("$NodeDeallocationOption", "requeue")
    return (
        ded,
        low,
        f"$TargetDedicatedNodes={ded};$TargetLowPriorityNodes={low};$NodeDeallocationOption={dealloc}",
    )


def _num(s: str) -> float | None:
    try:
        return float(s)
    except ValueError:
        return None


def _iso_duration(seconds: float) -> str:
    seconds = round(seconds)
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    out = "PT"
    if h:
        out += f"{h}H"
    if m:
        out += f"{m}M"
    if s or out == "PT":
        out += f"{s}S"
    return out
