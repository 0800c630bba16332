"""Rolling a pool to a configuration Batch only accepts on an empty pool (``spec.updateStrategy``).

Contract::

    serving_id, other_id = pool_ids(primary_id, status)       # <poolName> and <poolName>-b alternate
    if wants_other(spec, status, serving, config): GET other_id
    plan = plan(meta, spec, status, image, account, Pools(serving_id, serving, other_id, other),
                limit, now, settings, config)

``plan`` wraps ``pool_plan.plan_pool``: with no rollout under way and none needed it is exactly
``plan_pool`` on the serving pool.  The state lives in ``status.rollout`` (written before the next
Azure write is sent, except a create's PUT, which ``status.operations`` records first), and every
pool carries the object's ownership tags, so a restart at any step finds both pools again.

BlueGreen phases (``status.rollout.phase``)::

    Creating  -- the new pool is PUT and resized to target (the resize-retry loop, via plan_pool);
                 the old pool serves untouched; Ready stays True while it is at its target.
                 A spec change that the new pool does not match deletes it and creates it again
                 (roll forward, never a third pool); a spec the old pool matches again cancels.
    Draining  -- the new pool is Ready at target: status.poolId moved to it; the old pool is
                 resized to 0 with ``updateStrategy.drain`` and deleted once empty.
    Cancelling / Failed -- only the NEW pool is deleted; Failed then stalls RolloutFailed with the
                 cause until the spec changes (the old spec again ends the rollout).

ScaleToZero phases: Draining (resize to 0 with the drain option) -> Updating (the empty-pool PATCH,
pool_update) -> ScalingUp (plan_pool's resize loop; the rollout ends when it is Done).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from azbatch_operator.api.batch_pool import BatchPoolSpec
from azbatch_operator.reconcile import (
    admission,
    conditions,
    lro,
    names,
    ownership,
    polling,
    pool_diff,
    pool_plan,
    pool_update,
    resize,
)
from azbatch_operator.reconcile.conditions import Condition, Reason
from azbatch_operator.reconcile.image_limits import ImageLimitVerdict
from azbatch_operator.reconcile.plan import (
    CheckImage,
    DeletePool,
    Done,
    Plan,
    ResizePool,
    Stall,
    StopResize,
    Wait,
)
from azbatch_operator.settings import Settings

BLUE_GREEN = "BlueGreen"
SCALE_TO_ZERO = "ScaleToZero"
CREATING = "Creating"
DRAINING = "Draining"
CANCELLING = "Cancelling"
FAILED = "Failed"
UPDATING = "Updating"
SCALING_UP = "ScalingUp"
ALTERNATE_SUFFIX = "-b"
#: Keys of a new pool's own planner status kept under ``status.rollout.pool`` (the serving pool's
#: keep the top level).
_SUB_KEYS = ("resizeAttempts", "lastResizeError", "secretVersions", "operations")


#: plan_pool on the serving pool, with extra status entries (and optionally another status).
Normal = Callable[..., Plan]


@dataclass(frozen=True)
class Pools:
    """Both pools as Azure reports them (None = 404; ``other`` None also when it was not read)."""

    serving_id: str
    serving: Mapping[str, Any] | None
    other_id: str
    other: Mapping[str, Any] | None = None


def alternate(pool_id: str) -> str:
    """``<poolName>`` <-> ``<poolName>-b`` (the name cut to fit Batch's 64 characters)."""
    account, _, name = pool_id.rpartition("/pools/")
    if name.endswith(ALTERNATE_SUFFIX):
        return f"{account}/pools/{name[: -len(ALTERNATE_SUFFIX)]}"
    return f"{account}/pools/{name[: names.POOL_NAME_MAX - len(ALTERNATE_SUFFIX)]}{ALTERNATE_SUFFIX}"


def pool_ids(primary_id: str, status: Mapping[str, Any]) -> tuple[str, str]:
    """(serving, other): status.poolId when it is this spec's pool or its alternate, else the
    primary (a new object, or one whose spec moved to another pool name or account)."""
    recorded = str(status.get("poolId") or "")
    other = alternate(primary_id)
    if recorded.lower() == other.lower():
        return other, primary_id
    return primary_id, other


def rollout_of(status: Mapping[str, Any]) -> Mapping[str, Any] | None:
    found = status.get("rollout")
    return found if isinstance(found, Mapping) and found.get("phase") else None


def _nodes(pool: Mapping[str, Any] | None) -> tuple[int, int]:
    props: Mapping[str, Any] = (pool or {}).get("properties") or {}
    return int(props.get("currentDedicatedNodes") or 0), int(props.get("currentLowPriorityNodes") or 0)


def _targets(pool: Mapping[str, Any] | None) -> tuple[int, int] | None:
    fixed = (((pool or {}).get("properties") or {}).get("scaleSettings") or {}).get("fixedScale")
    if fixed is None:
        return None
    return int(fixed.get("targetDedicatedNodes") or 0), int(fixed.get("targetLowPriorityNodes") or 0)


def _steady(pool: Mapping[str, Any] | None) -> bool:
    props: Mapping[str, Any] = (pool or {}).get("properties") or {}
    return str(props.get("allocationState") or "Steady").lower() == "steady"


def _image_of(pool: Mapping[str, Any] | None) -> str | None:
    props: Mapping[str, Any] = (pool or {}).get("properties") or {}
    vmc = (props.get("deploymentConfiguration") or {}).get("virtualMachineConfiguration") or {}
    found = (vmc.get("imageReference") or {}).get("id")
    return str(found) if found else None


def empty_differences(
    config: pool_update.DesiredConfig, pool: Mapping[str, Any], status: Mapping[str, Any]
) -> tuple[str, ...]:
    """Spec fields the pool differs in that Batch only changes on an empty pool."""
    return pool_diff.diff(config.body, pool, config.rotated(status)).empty_fields


def needs_rollout(
    spec: BatchPoolSpec, config: pool_update.DesiredConfig, pool: Mapping[str, Any], status: Mapping[str, Any]
) -> tuple[str, ...]:
    """The empty-pool fields a pool with nodes differs in (empty: the plain PATCH path does it)."""
    found = empty_differences(config, pool, status)
    if not found:
        return ()
    nodes = sum(_nodes(pool))
    if nodes == 0 and _steady(pool):
        return ()
    fixed = spec.scale.fixed
    if fixed is not None and fixed.target_dedicated_nodes == 0 and fixed.target_low_priority_nodes == 0:
        return ()
    return found


def wants_other(
    spec: BatchPoolSpec,
    status: Mapping[str, Any],
    serving: Mapping[str, Any] | None,
    config: pool_update.DesiredConfig | None,
    other_id: str,
) -> bool:
    """Whether the shell should GET the alternate pool too: while a BlueGreen rollout is under way
    or about to start, or a create of it is recorded (a crash after its PUT); a pool in sync costs
    no extra read."""
    ro = rollout_of(status)
    if ro is not None:
        return str(ro.get("strategy") or BLUE_GREEN) == BLUE_GREEN
    if any(op.resource_id.lower() == other_id.lower() for op in lro.operations(status)):
        return True
    if spec.update_strategy.type != BLUE_GREEN or config is None:
        return False
    return serving is None or bool(needs_rollout(spec, config, serving, status))


def _ours(meta: names.ObjectMeta, pool: Mapping[str, Any] | None) -> bool:
    return pool is not None and ownership.decide(ownership.pool_tags(pool), meta).kind is ownership.Kind.OURS


def _at_target(pool: Mapping[str, Any] | None) -> bool:
    targets = _targets(pool)
    if pool is None:
        return False
    if targets is None:
        return True  # autoscale: the formula decides what "at target" is
    cur = _nodes(pool)
    return cur[0] >= targets[0] and cur[1] >= targets[1]


def _message_of(plan: Plan) -> str:
    for cond in plan.conditions:
        if cond["type"] == conditions.RECONCILING and cond["status"] == "True":
            return cond["message"]
        if cond["type"] == conditions.STALLED and cond["status"] == "True":
            return cond["message"]
    for cond in plan.conditions:
        if cond["type"] == conditions.READY:
            return cond["message"]
    return ""


def rolling_conditions(gen: int, now: datetime, serving_ready: bool, message: str) -> list[Condition]:
    """Reconciling RollingOut; Ready stays True while the serving pool is at its target."""
    return [
        conditions.condition(
            conditions.READY,
            serving_ready,
            Reason.ROLLING_OUT if not serving_ready else Reason.SUCCEEDED,
            "the serving pool is at its target while the rollout runs" if serving_ready else message,
            gen,
            now,
        ),
        conditions.condition(conditions.RECONCILING, True, Reason.ROLLING_OUT, message, gen, now),
        conditions.condition(conditions.STALLED, False, Reason.ROLLING_OUT, "", gen, now),
    ]


def _observed(pool: Mapping[str, Any] | None) -> dict[str, Any]:
    if pool is None:
        return {}
    cur = _nodes(pool)
    out: dict[str, Any] = {
        "allocationState": ((pool.get("properties") or {}).get("allocationState")),
        "currentDedicatedNodes": cur[0],
        "currentLowPriorityNodes": cur[1],
    }
    targets = _targets(pool)
    if targets is not None:
        out["targetDedicatedNodes"], out["targetLowPriorityNodes"] = targets
    return out


def plan(
    meta: names.ObjectMeta,
    spec: BatchPoolSpec,
    status: Mapping[str, Any],
    image: pool_plan.ResolvedImage,
    account: pool_plan.AccountInfo | None,
    pools: Pools,
    limit: ImageLimitVerdict | None,
    now: datetime,
    settings: Settings,
    config: pool_update.DesiredConfig | None = None,
) -> Plan:
    """The next step, a rollout's or plan_pool's (see the module docstring)."""

    def normal(extra: Mapping[str, Any] | None = None, st: Mapping[str, Any] = status) -> Plan:
        found = pool_plan.plan_pool(
            meta, spec, st, image, account, pools.serving, limit, now, settings, config, pools.serving_id
        )
        return replace(found, status={**found.status, **(extra or {})}) if extra else found

    ro = rollout_of(status)
    if config is None or account is None or pool_plan.validate_pool_spec(spec):
        return normal({"rollout": None} if ro else None)
    if ro is None:
        return _start(meta, spec, status, image, account, pools, limit, now, settings, config, normal)
    if str(ro.get("strategy")) == SCALE_TO_ZERO:
        return _scale_to_zero(meta, spec, status, ro, pools, now, settings, config, normal)
    return _blue_green(meta, spec, status, ro, image, account, pools, limit, now, settings, config, normal)


def _start(
    meta: names.ObjectMeta,
    spec: BatchPoolSpec,
    status: Mapping[str, Any],
    image: pool_plan.ResolvedImage,
    account: pool_plan.AccountInfo,
    pools: Pools,
    limit: ImageLimitVerdict | None,
    now: datetime,
    settings: Settings,
    config: pool_update.DesiredConfig,
    normal: Normal,
) -> Plan:
    gen = meta.generation
    serving, other = pools.serving, pools.other
    if serving is None:
        if _ours(meta, other):
            # Ours under the alternate name, status lost: it serves (never create a second pool).
            found = pool_plan.plan_pool(
                meta, spec, status, image, account, other, limit, now, settings, config, pools.other_id
            )
            return found
        result: Plan = normal()
        return result
    fields = needs_rollout(spec, config, serving, status)
    strategy = spec.update_strategy.type
    if not fields or strategy == "Manual":
        if _ours(meta, other) and lro.state_of(other) is not lro.State.DELETING:
            # A new pool left over from a rollout whose state was lost (or ended by the old spec
            # again): it is this object's and serves nothing, so it goes.
            message = f"deleting pool {pools.other_id}: a rollout's new pool the spec no longer needs"
            return Plan(
                DeletePool(pools.other_id),
                tuple(rolling_conditions(gen, now, _at_target(serving), message)),
                {"observedGeneration": gen, **_observed(serving)},
                polling.fast(settings),
            )
        result = normal()
        return result
    record: dict[str, Any] = {
        "strategy": strategy,
        "fromImage": _image_of(serving),
        "toImage": image.image_id,
        "oldPoolId": pools.serving_id,
        "newPoolId": pools.serving_id if strategy == SCALE_TO_ZERO else pools.other_id,
        "startedAt": conditions.rfc3339(now),
        "fields": list(fields),
        "oldTargets": list(_targets(serving) or _nodes(serving)),
    }
    if strategy == SCALE_TO_ZERO:
        record["phase"] = DRAINING
        return _scale_to_zero(
            meta, spec, {**status, "rollout": record}, record, pools, now, settings, config, normal
        )
    record["phase"] = CREATING
    if pools.other is None:
        # Recorded before anything is created: the next pass runs the create's checks (the image's
        # region is read then) with the rollout in status, so a crash never loses the new pool.
        message = (
            f"{pool_update.named(list(fields))} differ from pool {pools.serving_id}: rolling out to a "
            f"new pool {pools.other_id} ({BLUE_GREEN})"
        )
        conds = rolling_conditions(gen, now, _at_target(serving), f"rollout {CREATING}: {message}")
        return Plan(
            Wait(polling.fast(settings), Reason.ROLLING_OUT),
            tuple(conds),
            {"observedGeneration": gen, **_observed(serving), "rollout": record},
            0.0,
        )
    return _blue_green(
        meta,
        spec,
        {**status, "rollout": record},
        record,
        image,
        account,
        pools,
        limit,
        now,
        settings,
        config,
        normal,
    )


def _drain_step(
    pool_id: str, pool: Mapping[str, Any], option: str, settings: Settings
) -> ResizePool | StopResize | Wait:
    """Towards 0 nodes: resize to 0 with the drain option once Steady (again, through the data
    plane, when a drain at target 0 ended with nodes left); stop a resize toward another target."""
    state = str((pool.get("properties") or {}).get("allocationState") or "Steady").lower()
    if state == "steady":
        return _drain(pool_id, pool, option)
    if state == "resizing" and _targets(pool) not in (None, (0, 0)):
        return StopResize(pool_id)
    return Wait(polling.fast(settings), Reason.ROLLING_OUT)


def _drain(pool_id: str, pool: Mapping[str, Any], option: str) -> ResizePool:
    params = {
        "properties": {
            "scaleSettings": {
                "fixedScale": {
                    "targetDedicatedNodes": 0,
                    "targetLowPriorityNodes": 0,
                    "nodeDeallocationOption": option,
                }
            }
        }
    }
    again = _targets(pool) == (0, 0)
    return ResizePool(pool_id, 0, 0, "PT15M", params, retry=again, node_deallocation_option=option)


def _scale_to_zero(
    meta: names.ObjectMeta,
    spec: BatchPoolSpec,
    status: Mapping[str, Any],
    ro: Mapping[str, Any],
    pools: Pools,
    now: datetime,
    settings: Settings,
    config: pool_update.DesiredConfig,
    normal: Normal,
) -> Plan:
    gen = meta.generation
    pool = pools.serving
    record = dict(ro)
    base: dict[str, Any] = {"observedGeneration": gen, **_observed(pool)}
    if pool is None or (spec.update_strategy.type != SCALE_TO_ZERO and ro.get("phase") == DRAINING):
        result: Plan = normal({"rollout": None})
        return result
    phase = str(ro.get("phase"))
    if phase == DRAINING:
        if sum(_nodes(pool)) == 0 and _steady(pool):
            record["phase"] = UPDATING
            phase = UPDATING
        else:
            left = sum(_nodes(pool))
            message = (
                f"draining pool {pools.serving_id} ({spec.update_strategy.drain}): {left} nodes left, then "
                f"{pool_update.named(list(ro.get('fields') or ()))} are updated and the pool scales back"
            )
            conds = tuple(rolling_conditions(gen, now, False, message))
            action = _drain_step(pools.serving_id, pool, spec.update_strategy.drain, settings)
            return Plan(
                action, conds, {**base, "rollout": record, "resizeAttempts": 0}, polling.fast(settings)
            )
    found = normal({"rollout": record}, {**status, "resizeAttempts": 0} if phase == UPDATING else status)
    if phase == UPDATING and not empty_differences(config, pool, status):
        record["phase"] = SCALING_UP
    if isinstance(found.action, Done):
        return replace(found, status={**found.status, "rollout": None})
    if isinstance(found.action, Stall):
        return replace(found, status={**found.status, "rollout": None})
    message = f"rollout ({SCALE_TO_ZERO}) {record['phase']}: {_message_of(found)}"
    return replace(
        found,
        conditions=(*rolling_conditions(gen, now, False, message), *_extra_conditions(found)),
        status={**found.status, "rollout": record},
    )


def _extra_conditions(found: Plan) -> tuple[Condition, ...]:
    triad = {conditions.READY, conditions.RECONCILING, conditions.STALLED}
    return tuple(c for c in found.conditions if c["type"] not in triad)


def _blue_green(
    meta: names.ObjectMeta,
    spec: BatchPoolSpec,
    status: Mapping[str, Any],
    ro: Mapping[str, Any],
    image: pool_plan.ResolvedImage,
    account: pool_plan.AccountInfo,
    pools: Pools,
    limit: ImageLimitVerdict | None,
    now: datetime,
    settings: Settings,
    config: pool_update.DesiredConfig,
    normal: Normal,
) -> Plan:
    gen = meta.generation
    record = dict(ro)
    old_id, new_id = str(ro.get("oldPoolId")), str(ro.get("newPoolId"))
    by_id = {pools.serving_id.lower(): pools.serving, pools.other_id.lower(): pools.other}
    old, new = by_id.get(old_id.lower()), by_id.get(new_id.lower())
    phase = str(ro.get("phase"))
    fast = polling.fast(settings)

    def step(action: Any, message: str, serving: Mapping[str, Any] | None, **extra: Any) -> Plan:
        conds = rolling_conditions(gen, now, _at_target(serving), f"rollout {record['phase']}: {message}")
        return Plan(
            action,
            tuple(conds),
            {"observedGeneration": gen, **_observed(serving), "rollout": record, **extra},
            fast,
        )

    if phase == DRAINING:
        if old is None:
            # The old pool is gone: the rollout is over; the new pool is reconciled as usual.
            st = {**status, "poolId": new_id}
            found = pool_plan.plan_pool(
                meta, spec, st, image, account, new, limit, now, settings, config, new_id
            )
            return replace(found, status={**found.status, "rollout": None})
        if lro.state_of(old) is lro.State.DELETING:
            return step(Wait(fast, Reason.ROLLING_OUT), f"waiting for old pool {old_id} to be deleted", new)
        left = sum(_nodes(old))
        if left == 0 and _steady(old):
            return step(DeletePool(old_id), f"deleting old pool {old_id} (drained)", new)
        return step(
            _drain_step(old_id, old, spec.update_strategy.drain, settings),
            f"draining old pool {old_id} ({spec.update_strategy.drain}): {left} nodes left",
            new,
        )

    # Creating, Cancelling, Failed: the old pool serves; only the new pool is ever deleted.
    if new is not None and not _ours(meta, new):
        record["phase"] = FAILED
        record["failedGeneration"] = gen
        record["cause"] = (
            f"pool {new_id} exists and is not this object's (its tags name another owner or none)"
        )
        msg = f"rollout failed: {record['cause']}; the old pool {old_id} keeps serving; delete or rename it"
        return Plan(
            Stall(Reason.ROLLOUT_FAILED, msg),
            tuple(conditions.stalled(gen, now, Reason.ROLLOUT_FAILED, msg)),
            {"observedGeneration": gen, **_observed(old), "rollout": record},
            polling.slow(settings),
        )
    if old is None:
        # The serving pool vanished out of band mid-rollout: the new one is all there is.
        st = {**status, "poolId": new_id if new is not None else old_id}
        target_id = new_id if new is not None else old_id
        found = pool_plan.plan_pool(
            meta, spec, st, image, account, new, limit, now, settings, config, target_id
        )
        return replace(found, status={**found.status, "rollout": None})
    old_fields = needs_rollout(spec, config, old, status)
    cancel = not old_fields or spec.update_strategy.type != BLUE_GREEN
    if phase == FAILED and not cancel and int(ro.get("failedGeneration") or 0) != gen and new is None:
        # A new spec after a failure: a fresh rollout.
        return _start(
            meta,
            spec,
            {**status, "rollout": None},
            image,
            account,
            pools,
            limit,
            now,
            settings,
            config,
            normal,
        )
    if phase in (FAILED, CANCELLING) or cancel:
        if cancel and phase != FAILED:
            record["phase"] = CANCELLING
        if new is not None:
            if lro.state_of(new) is lro.State.DELETING:
                action: Any = Wait(fast, Reason.ROLLING_OUT)
                what = f"waiting for new pool {new_id} to be deleted"
            else:
                action, what = DeletePool(new_id), f"deleting new pool {new_id}"
            if record["phase"] == FAILED:
                msg = f"rollout failed: {record.get('cause')}; {what}; the old pool {old_id} keeps serving"
                return Plan(
                    action,
                    tuple(conditions.stalled(gen, now, Reason.ROLLOUT_FAILED, msg)),
                    {"observedGeneration": gen, **_observed(old), "rollout": record},
                    fast,
                )
            return step(action, f"{what} (the spec no longer needs it)", old)
        if record["phase"] == FAILED and not cancel:
            msg = (
                f"rollout to {new_id} failed: {record.get('cause')}; the old pool {old_id} keeps serving "
                "untouched. Fix the cause and change the spec to retry, or apply the previous spec to end "
                "the rollout"
            )
            return Plan(
                Stall(Reason.ROLLOUT_FAILED, msg),
                tuple(conditions.stalled(gen, now, Reason.ROLLOUT_FAILED, msg)),
                {"observedGeneration": gen, **_observed(old), "rollout": record},
                polling.slow(settings),
            )
        result: Plan = normal({"rollout": None})
        return result
    # Creating.
    record["phase"] = CREATING
    record["toImage"] = image.image_id or record.get("toImage")
    if new is not None and lro.state_of(new) is lro.State.DELETING:
        return step(Wait(fast, Reason.ROLLING_OUT), f"waiting for new pool {new_id} to be deleted", old)
    if new is not None and empty_differences(config, new, ro.get("pool") or {}):
        # The spec changed again: the new pool is replaced by one with the newest spec.
        fields = pool_update.named(list(empty_differences(config, new, ro.get("pool") or {})))
        record["pool"] = None
        return step(DeletePool(new_id), f"the spec changed ({fields}): replacing new pool {new_id}", old)
    sub_status: dict[str, Any] = {k: v for k, v in (ro.get("pool") or {}).items() if v is not None}
    if new is not None:
        sub_status["poolId"] = new_id
    if new is None:
        in_flight = lro.recently_started(lro.operations(status), new_id, now, settings.create_grace_seconds)
        if in_flight is not None and in_flight.type == "CreatePool" and sub_status.get("operations"):
            return step(Wait(fast, Reason.ROLLING_OUT), f"waiting for new pool {new_id} to appear", old)
    quota = _quota_error(new)
    found = pool_plan.plan_pool(
        meta, spec, sub_status, image, account, new, limit, now, settings, config, new_id
    )
    if quota is not None and not isinstance(found.action, Stall):
        # A quota the old pool's cores count against: re-checking it (as a lone pool does) would
        # hold a partial second pool for as long as the quota stays; the rollout fails instead.
        found = replace(found, action=Stall(Reason.QUOTA_EXCEEDED, quota))
    sub = {k: found.status.get(k) for k in _SUB_KEYS if k in found.status}
    record["pool"] = {**sub_status, **sub}
    record["pool"].pop("poolId", None)
    record["pool"] = {k: v for k, v in record["pool"].items() if v is not None}
    progress = _message_of(found)
    if isinstance(found.action, Done) and (spec.scale.fixed is None or _at_target(new)):
        record["phase"] = DRAINING
        record.pop("pool", None)
        message = f"new pool {new_id} is Ready at target; status.poolId moves to it and {old_id} is drained"
        conds = rolling_conditions(gen, now, True, f"rollout {DRAINING}: {message}")
        return Plan(
            Wait(fast, Reason.ROLLING_OUT),
            (*conds, *_extra_conditions(found)),
            {
                "observedGeneration": gen,
                **_observed(new),
                "poolId": new_id,
                "rollout": record,
                "resizeAttempts": 0,
                "secretVersions": dict(config.secret_versions),
                "imageReference": image.image_id,
            },
            fast,
        )
    if isinstance(found.action, Stall):
        if found.action.reason in (Reason.IMAGE_NOT_READY,):
            return step(Wait(fast, Reason.ROLLING_OUT), progress, old)
        record["phase"] = FAILED
        record["failedGeneration"] = gen
        record["cause"] = f"{found.action.reason}: {found.action.message}"
        msg = f"rollout failed: {record['cause']}; the old pool {old_id} keeps serving"
        action = DeletePool(new_id) if new is not None else Wait(fast, Reason.ROLLOUT_FAILED)
        return Plan(
            action,
            tuple(conditions.stalled(gen, now, Reason.ROLLOUT_FAILED, msg)),
            {"observedGeneration": gen, **_observed(old), "rollout": record},
            fast,
        )
    if isinstance(found.action, Wait) and found.action.reason is Reason.IMAGE_NOT_READY and new is None:
        return step(found.action, progress, old)
    extra: dict[str, Any] = {}
    ops = found.status.get("operations")
    if ops:
        extra["operations"] = ops  # the finalizer waits for a create in flight
    elif status.get("operations") and new is not None:
        extra["operations"] = None
    done_msg = f"new pool {new_id}: {progress}" if not isinstance(found.action, CheckImage) else progress
    plan_out = step(found.action, done_msg, old, **extra)
    return replace(
        plan_out,
        conditions=(*plan_out.conditions, *_extra_conditions(found)),
        requeue_after=found.requeue_after or fast,
    )


def limit_claims(
    me: admission.Claim, status: Mapping[str, Any], old_image_key: str | None
) -> tuple[admission.Claim, tuple[admission.Claim, ...]]:
    """Per-image node limits while a BlueGreen rollout has two pools: ``me`` is the new pool (held:
    nothing until it serves), and the old pool counts with the targets it had, on its own image, as
    a claim of its own (it matters when both pools share an image key, e.g. a vmSize rollout)."""
    ro = rollout_of(status)
    if ro is None or str(ro.get("strategy")) != BLUE_GREEN or old_image_key is None:
        return me, ()
    old = tuple(int(n) for n in (ro.get("oldTargets") or (0, 0)))[:2]
    held = (old[0], old[1]) if len(old) == 2 else (0, 0)
    retiring = admission.Claim(f"{me.pool} (retiring pool)", old_image_key, held, held, me.created)
    if str(ro.get("phase")) == CREATING:
        me = replace(me, held=None)
    return me, (retiring,)


def _quota_error(pool: Mapping[str, Any] | None) -> str | None:
    """The quota error of a pool that went Steady short of its target (None otherwise)."""
    if pool is None or not _steady(pool) or _at_target(pool):
        return None
    obs = resize.PoolObservation.from_arm(pool)
    for code, message in obs.errors:
        if code.lower() in resize.QUOTA_CODES:
            return f"{code}: {message}"
    return None


def delete_targets(status: Mapping[str, Any], serving_id: str) -> tuple[str, ...]:
    """Finalizer: the rollout's pools other than the serving one (deleted first, then the serving
    one), and the alternate pool whenever a create of it is recorded."""
    ro = rollout_of(status) or {}
    ids = {str(ro.get("newPoolId") or ""), str(ro.get("oldPoolId") or ""), alternate(serving_id)}
    if not ro and not any(
        op.resource_id.lower() == alternate(serving_id).lower() for op in lro.operations(status)
    ):
        ids.discard(alternate(serving_id))
    return tuple(sorted(i for i in ids if i and i.lower() != serving_id.lower()))


def plan_delete_others(
    meta: names.ObjectMeta,
    spec: BatchPoolSpec,
    status: Mapping[str, Any],
    others: Mapping[str, Mapping[str, Any] | None],
    now: datetime,
    settings: Settings,
) -> Plan | None:
    """Finalizer with deletionPolicy Delete during a rollout: delete the rollout's other pool (only
    one this object's tags name) and wait until it is gone, or for a create of it still in flight;
    None when nothing of it is left (``plan_pool_delete`` then handles the serving pool)."""
    if spec.deletion_policy == "Orphan":
        return None
    gen = meta.generation
    fast = polling.fast(settings)
    for pool_id, pool in others.items():
        if pool is None:
            in_flight = lro.recently_started(
                lro.operations(status), pool_id, now, settings.create_grace_seconds
            )
            if in_flight is not None and in_flight.type == "CreatePool":
                message = f"waiting for the create of pool {pool_id}; it is deleted once it exists"
                return Plan(
                    Wait(fast, Reason.DELETING),
                    tuple(conditions.deleting(gen, now, message)),
                    {"observedGeneration": gen},
                    fast,
                )
            continue
        if not _ours(meta, pool):
            continue
        if lro.state_of(pool) is lro.State.DELETING:
            message = f"waiting for pool {pool_id} to be deleted"
            return Plan(
                Wait(fast, Reason.DELETING),
                tuple(conditions.deleting(gen, now, message)),
                {"observedGeneration": gen},
                fast,
            )
        message = f"deleting pool {pool_id} (a rollout's)"
        return Plan(
            DeletePool(pool_id),
            tuple(conditions.deleting(gen, now, message)),
            {"observedGeneration": gen},
            fast,
        )
    return None
