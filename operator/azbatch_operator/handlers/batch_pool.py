"""BatchPool handlers: one reconcile loop per pool (a kopf daemon) and a deletion finalizer."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import kopf
import pydantic

from azbatch_operator import api, metrics
from azbatch_operator.api.batch_pool import BatchPoolSpec
from azbatch_operator.azure.calls import AzureCallError
from azbatch_operator.azure.resources import WriteRefused
from azbatch_operator.handlers import guard, indexes, loop, node_counts, report, runtime, secrets
from azbatch_operator.handlers.runtime import Runtime
from azbatch_operator.kube import GROUP, VERSION
from azbatch_operator.reconcile import (
    conditions,
    image_refs,
    listing,
    names,
    polling,
    pool_config,
    pool_plan,
    pool_update,
    rollout,
)
from azbatch_operator.reconcile.conditions import Reason
from azbatch_operator.reconcile.plan import (
    AdoptPool,
    CheckImage,
    CreatePool,
    DeletePool,
    Plan,
    Release,
    ResizePool,
    StopResize,
    UpdateAutoScale,
    UpdatePool,
    invalid_spec_plan,
    stall_plan,
)

PLURAL = "batchpools"
#: How long a Batch account read is reused: its location and allocation mode do not change.
ACCOUNT_CACHE_SECONDS = 600.0
#: How long an image read (location, replication regions) is reused by pools about to be created.
#: Short: the create PUT itself is refused if the image went away meanwhile.
IMAGE_CACHE_SECONDS = 30.0


def _meta(body: kopf.Body) -> names.ObjectMeta:
    m = body["metadata"]
    return names.ObjectMeta(m["namespace"], m["name"], m.get("uid", ""), int(m.get("generation") or 1))


async def describe_image(rt: Runtime, image: pool_plan.ResolvedImage) -> pool_plan.ResolvedImage:
    """Fill location / replication regions for a user-given image id (needed for the S4 check)."""
    if not image.unread or image.image_id is None:
        return image
    image_id = image.image_id
    found = await rt.lookups.get(f"image:{image_id}", IMAGE_CACHE_SECONDS, lambda: rt.resources.get(image_id))
    return image.as_read(found)


async def _account(rt: Runtime, account_id: str) -> pool_plan.AccountInfo | None:
    """The Batch account (location, allocation mode): one read shared by every pool on it."""
    found = await rt.lookups.get(
        f"account:{account_id}", ACCOUNT_CACHE_SECONDS, lambda: rt.resources.get(account_id)
    )
    return None if found is None else pool_plan.AccountInfo.from_arm(account_id, found)


#: Batch's answers to a create with If-None-Match: * when the pool exists: after an SDK retry of our
#: own PUT (the first one landed, its response was lost) this is our pool, found by its tags next pass.
_EXISTS_CODES = frozenset({"conditionnotmet", "preconditionfailed"})


async def _perform(rt: Runtime, plan: Plan, body: kopf.Body, memo: Any) -> None:
    """Send the plan's write; the pool's next read then comes after it (read-your-writes)."""
    rid = getattr(plan.action, "resource_id", None)
    if rid is None or isinstance(plan.action, CheckImage):
        return
    try:
        await _send(rt, plan, body, memo)
    finally:
        rt.pool_listings().wrote(rid)


async def _send(rt: Runtime, plan: Plan, body: kopf.Body, memo: Any) -> None:
    resources = rt.resources
    if await node_counts.perform(rt, plan):  # issue 14: data-plane actions (retry resize, removeNodes)
        return
    match plan.action:
        case CreatePool(resource_id=rid, params=params):
            await report.record_operations(rt, PLURAL, body, memo, plan)
            try:
                await report.sent_or_forgotten(rt, PLURAL, body, memo, resources.create_pool(rid, params))
            except AzureCallError as exc:
                if exc.classification.code.lower() not in _EXISTS_CODES:
                    raise
        case (
            AdoptPool(resource_id=rid, params=params)
            | ResizePool(resource_id=rid, params=params)
            | UpdateAutoScale(resource_id=rid, params=params)
            | UpdatePool(resource_id=rid, params=params)
        ):
            await resources.update_pool(rid, params)
        case StopResize(resource_id=rid):
            await resources.pool_action(rid, "stopResize")
        case DeletePool(resource_id=rid):
            await resources.begin_delete(rid)
        case _:
            pass  # Wait, Done, Stall, Release (RemoveNodes: node_counts): nothing to call.


async def security_preflight(rt: Runtime, spec: BatchPoolSpec, image_id: str) -> str | None:
    """Read the image's gallery definition (cached) when the spec asks for trusted launch or a
    confidential VM, and say what does not fit; None when nothing is asked or all fits."""
    if not (spec.security_profile or {}).get("securityType"):
        return None
    definition_id = pool_config.gallery_definition_id(image_id)
    if definition_id is None:
        return None
    found = await rt.lookups.get(
        f"image:{definition_id}", IMAGE_CACHE_SECONDS, lambda: rt.resources.get(definition_id)
    )
    return pool_config.security_problem(spec, image_id, found)


async def secret_values(
    rt: Runtime, meta: names.ObjectMeta, spec: BatchPoolSpec, now: datetime
) -> tuple[pool_config.SecretValues | None, Plan | None]:
    """(the referenced Secret values, None), or (None, a Stall plan) when a referenced Secret is
    missing or unusable: nothing is sent to Azure until it is fixed.  Messages name Secrets, never
    values."""
    try:
        values = await secrets.read(rt.kube, meta.namespace, pool_config.secret_refs(spec))
        # Resolve once with no image, so an unusable value (protectedSettings that are no JSON
        # object) is reported here too.
        pool_config.desired_pool(meta, spec, None, values)
        return values, None
    except (pool_config.MissingSecret, pool_config.InvalidSecret) as exc:
        return None, pool_config.secret_stall(meta, exc, now, rt.settings)


async def reconcile_once(
    body: kopf.Body, memo: kopf.Memo, images: kopf.Index[Any, Any], claims: kopf.Index[Any, Any]
) -> float | None:
    rt = runtime.of(memo)
    meta = _meta(body)
    now = datetime.now(UTC)
    # With our last status write over it: kopf's copy of the body may not show it yet (its watch
    # lags when many objects change at once).
    status = guard.status_of(memo, body)
    try:
        spec = BatchPoolSpec.model_validate(dict(body["spec"]))
    except pydantic.ValidationError as exc:
        plan = invalid_spec_plan(meta.generation, now, api.describe_validation_error(exc))
        await report.publish(rt, PLURAL, body, memo, plan.conditions, plan.status)
        return None
    problems = pool_plan.validate_pool_spec(spec)
    if problems:
        # Ids the CRD's rules let through but that are no ARM ids (e.g. "..", "?"): the pool's own id
        # cannot even be built from them, so say so before anything else is tried.
        plan = invalid_spec_plan(meta.generation, now, "; ".join(problems))
        await report.publish(rt, PLURAL, body, memo, plan.conditions, plan.status)
        return None
    try:
        pool_id = pool_plan.pool_resource_id(meta, spec)
        # --- pool configuration (issue 12): the spec's Secrets first (before any Azure read: a
        # missing Secret costs no ARM call), the whole desired pool once the image is resolved.
        values, blocked = await secret_values(rt, meta, spec, now)
        if blocked is not None:
            await report.publish(rt, PLURAL, body, memo, blocked.conditions, blocked.status)
            return blocked.requeue_after
        # --- rollout (issue 13): the serving pool may be <poolName>-b (reconcile/rollout.py).
        pool_id, other_id = rollout.pool_ids(pool_id, status)
        account = await _account(rt, spec.account_id)
        image = image_refs.resolve_image(meta.namespace, spec, images)
        age = listing.max_age(memo.get("requeue"), rt.settings)
        pool = None
        if account is not None and not pool_plan.waits_unread(image, status):
            pool = await rt.pool_listings().get(pool_id, age, (meta.namespace, meta.name))
        if (pool is None or rollout.rollout_of(status) is not None) and image.ready:
            image = await describe_image(rt, image)
        # --- trusted launch (issue 12): securityProfile must fit the image before the create.
        if pool is None and image.ready and image.image_id is not None:
            problem = await security_preflight(rt, spec, image.image_id)
            if problem is not None:
                plan = stall_plan(
                    meta.generation, now, Reason.INVALID_SPEC, problem, {}, polling.slow(rt.settings)
                )
                await report.publish(rt, PLURAL, body, memo, plan.conditions, plan.status)
                return plan.requeue_after
        others = indexes.resolved_claims(rt.claims, claims, images)
        verdict = image_refs.image_limit_verdict(
            body["metadata"], spec, status, image.image_id, others, rt.settings
        )
        config = pool_update.DesiredConfig.build(meta, spec, image.image_id, values)
        # --- rollout (issue 13): the other pool is read only while a rollout needs it.
        other = None
        if account is not None and rollout.wants_other(spec, status, pool, config, other_id):
            other = await rt.pool_listings().get(other_id, age, (meta.namespace, meta.name))
        pools = rollout.Pools(pool_id, pool, other_id, other)
        plan = rollout.plan(meta, spec, status, image, account, pools, verdict, now, rt.settings, config)
        if isinstance(plan.action, CheckImage):
            image = image.checked(await rt.resources.get(plan.action.image_id) is not None)
            plan = rollout.plan(meta, spec, status, image, account, pools, verdict, now, rt.settings, config)
        plan = await node_counts.review(rt, plan, meta, spec, status, pool, now)
        await _perform(rt, plan, body, memo)
    except WriteRefused:
        return polling.fast(rt.settings)  # deleted, stopping or no longer leading: nothing to report
    except Exception as exc:
        attempt = int(memo.get("errors", 0))
        memo["errors"] = attempt + 1
        conds, delay = report.error_plan(rt, exc, meta.generation, now, attempt, "reconcile")
        await report.publish(rt, PLURAL, body, memo, conds, {"observedGeneration": meta.generation})
        return delay
    memo["errors"] = 0
    was_shared = conditions.holds(status.get("conditions") or [], conditions.IMAGE_SHARED)
    status_fields = report.with_generation(plan, meta.generation)
    await report.publish(rt, PLURAL, body, memo, plan.conditions, status_fields, plan.warnings)
    if account is not None:
        next_age = listing.max_age(plan.requeue_after, rt.settings)
        rt.pool_listings().reading(pool_id, (meta.namespace, meta.name), next_age)
    sharers = image_refs.sharers_to_wake(verdict, was_shared, (meta.namespace, meta.name))
    if sharers is not None and image.image_id is not None:
        _nudge_sharers(rt, image.image_id, sharers)
    return plan.requeue_after


#: When many pools on one image are applied together, every newcomer used to wake every other pool
#: at once: N² reconciles, each an ARM read. The pools to tell are collected per image and woken
#: once, after no newcomer came for this long.
SHARER_NUDGE_QUIET_SECONDS = 5.0


def _nudge_sharers(rt: Runtime, image_id: str, pools: Iterable[tuple[str, str]]) -> None:
    keys = [(PLURAL, ns, name) for ns, name in pools]
    rt.wakers.nudge_when_quiet(f"sharers:{image_id.lower()}", keys, SHARER_NUDGE_QUIET_SECONDS)


@kopf.index(GROUP, VERSION, PLURAL)
async def wake_on_watch_event(*, body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    """Every watch event of the object wakes its sleeping loop to look at the new body. An indexer
    (it stores nothing: None is not indexed) rather than ``on.event``: kopf runs indexers on every
    event without an INFO log line each, and after it has put the new body in place."""
    loop.body_changed(memo, PLURAL, body)


@kopf.daemon(GROUP, VERSION, PLURAL, cancellation_backoff=5.0, cancellation_timeout=10.0)
async def pool_loop(
    *, stopped: kopf.DaemonStopped, body: kopf.Body, memo: kopf.Memo, logger: kopf.Logger, **kwargs: Any
) -> None:
    """Reconcile until the pool is deleted or the operator stops; sleeps between Azure polls."""
    rt = runtime.of(memo)
    managed_images: kopf.Index[Any, Any] = kwargs["managed_images"]
    pool_claims: kopf.Index[Any, Any] = kwargs["pool_claims"]

    async def once() -> float | None:
        delay = await reconcile_once(body, memo, managed_images, pool_claims)
        memo["requeue"] = delay
        return delay

    async def unexpected(exc: BaseException) -> float:
        return polling.fast(rt.settings)

    await loop.run(PLURAL, stopped, body, logger, once, unexpected, memo)


@kopf.on.delete(GROUP, VERSION, PLURAL)
async def pool_delete(*, body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    """Finalizer: Delete removes the pool in Azure and waits until it is gone; Orphan leaves it.
    Holds the object's guard, so it never acts while a reconcile pass (a create) is in flight."""
    rt = runtime.of(memo)
    async with guard.finalizer(memo, rt.may_act):
        await _delete_once(rt, body, memo)


async def _delete_once(rt: Runtime, body: kopf.Body, memo: Any) -> None:
    runtime.require_leadership(rt)
    meta = _meta(body)
    now = datetime.now(UTC)
    status = guard.status_of(memo, body)
    try:
        spec = BatchPoolSpec.model_validate(dict(body["spec"]))
    except pydantic.ValidationError:
        return  # Never valid, so never created anything in Azure.
    pool_id = pool_plan.pool_to_delete(meta, spec, status)
    if pool_id is None:
        return  # Never valid either (no ARM ids), so nothing was created.
    try:
        # --- rollout (issue 13): a rollout's other pool goes first (reconcile/rollout.py).
        fast = rt.settings.poll_fast_seconds
        others = {i: await rt.pool_listings().get(i, fast) for i in rollout.delete_targets(status, pool_id)}
        first = rollout.plan_delete_others(meta, spec, status, others, now, rt.settings)
        pool = await rt.pool_listings().get(pool_id, fast)
        plan = first or pool_plan.plan_pool_delete(meta, spec, status, pool, now, rt.settings, pool_id)
        await _perform(rt, plan, body, memo)
    except Exception as exc:
        refused = exc.classification if isinstance(exc, AzureCallError) else None
        if pool_plan.releases_when_refused(status, refused):
            return
        if isinstance(exc, WriteRefused):
            raise kopf.TemporaryError(str(exc), delay=polling.refused()) from exc
        attempt = int(memo.get("delete_errors", 0))
        memo["delete_errors"] = attempt + 1
        conds, delay = report.error_plan(rt, exc, meta.generation, now, attempt, "delete pool")
        await report.publish(rt, PLURAL, body, memo, conds, {"observedGeneration": meta.generation})
        raise kopf.TemporaryError(f"deleting pool {pool_id}: {exc}", delay=delay) from exc
    if isinstance(plan.action, Release):
        metrics.forget_pool(meta.namespace, meta.name)
        rt.pool_listings().forget(pool_id)
        return
    await report.publish(
        rt, PLURAL, body, memo, plan.conditions, report.with_generation(plan, meta.generation)
    )
    raise kopf.TemporaryError(
        f"waiting for pool {pool_id} to be deleted", delay=polling.or_fast(plan.requeue_after, rt.settings)
    )
