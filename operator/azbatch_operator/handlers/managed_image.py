"""ManagedImage handlers: one reconcile loop per image (a kopf daemon) and a protected deletion."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import kopf
import pydantic

from azbatch_operator import api, metrics
from azbatch_operator.api.managed_image import ManagedImageSpec
from azbatch_operator.azure.calls import AzureCallError
from azbatch_operator.azure.resources import WriteRefused
from azbatch_operator.handlers import guard, loop, report, runtime
from azbatch_operator.handlers.runtime import Runtime
from azbatch_operator.kube import GROUP, VERSION
from azbatch_operator.reconcile import image_delete, image_plan, image_users, names, polling
from azbatch_operator.reconcile.plan import (
    CreateGalleryVersion,
    CreateImage,
    CreateSnapshot,
    DeleteResource,
    EnsureGalleryDefinition,
    Plan,
    Release,
    UpdateGalleryReplication,
    invalid_spec_plan,
)

PLURAL = "managedimages"


def _meta(body: kopf.Body) -> names.ObjectMeta:
    m = body["metadata"]
    return names.ObjectMeta(m["namespace"], m["name"], m.get("uid", ""), int(m.get("generation") or 1))


@dataclass(frozen=True)
class Users:
    """The indexes that say which BatchPools hold a ManagedImage (see handlers/indexes.py)."""

    by_ref: kopf.Index[Any, Any]
    by_id: kopf.Index[Any, Any]

    @classmethod
    def of(cls, kwargs: Mapping[str, Any]) -> Users:
        return cls(kwargs["pools_by_image"], kwargs["pools_by_image_id"])

    def of_image(self, namespace: str, name: str, status: Mapping[str, Any]) -> list[str]:
        """Pools holding the image (reconcile/image_users.py)."""
        return image_users.holders(self.by_ref, self.by_id, namespace, name, status)


async def _get_many(rt: Runtime, ids: list[str]) -> dict[str, Mapping[str, Any] | None]:
    resources = rt.resources
    found = await asyncio.gather(*(resources.get(i) for i in ids))
    return {i.lower(): f for i, f in zip(ids, found, strict=True)}


async def observe(
    rt: Runtime, meta: names.ObjectMeta, targets: image_plan.ImageTargets, status: Mapping[str, Any]
) -> image_plan.ObservedImage:
    """GET what the planner looks at; skip what an existing image makes irrelevant."""
    resources = rt.resources
    image = await resources.get(targets.image_id)
    if image is None:
        vm = await resources.get(targets.vm_id) if targets.vm_id is not None else None
        snapshots = await _get_many(rt, targets.snapshots_to_read(meta, vm))
        return image_plan.ObservedImage(vm, snapshots, image)
    if targets.gallery_ids is None:
        return image_plan.ObservedImage(image=image)
    found = await _get_many(rt, list(targets.gallery_ids))
    gallery, definition, version = (found[i.lower()] for i in targets.gallery_ids)
    return image_plan.ObservedImage(None, {}, image, gallery, definition, version)


async def _perform(rt: Runtime, plan: Plan, body: kopf.Body, memo: Any) -> None:
    resources = rt.resources
    match plan.action:
        case (
            CreateSnapshot(resource_id=rid, params=params)
            | CreateImage(resource_id=rid, params=params)
            | EnsureGalleryDefinition(resource_id=rid, params=params)
            | CreateGalleryVersion(resource_id=rid, params=params)
        ):
            # Recorded before the PUT: a finalizer that does not see the resource yet waits for it.
            await report.record_operations(rt, PLURAL, body, memo, plan)
            await report.sent_or_forgotten(rt, PLURAL, body, memo, resources.begin_create(rid, params))
        case UpdateGalleryReplication(resource_id=rid, params=params):
            await resources.begin_update(rid, params)
        case DeleteResource(resource_id=rid):
            await resources.begin_delete(rid)
        case _:
            pass  # Wait, Done, Stall, Release: nothing to call.


def _parse(body: kopf.Body, meta: names.ObjectMeta, now: datetime) -> ManagedImageSpec | Plan:
    try:
        return ManagedImageSpec.model_validate(dict(body["spec"]))
    except pydantic.ValidationError as exc:
        return invalid_spec_plan(meta.generation, now, api.describe_validation_error(exc))


async def reconcile_once(body: kopf.Body, memo: kopf.Memo, pools: Users) -> float | None:
    rt = runtime.of(memo)
    meta = _meta(body)
    now = datetime.now(UTC)
    status = guard.status_of(memo, body)
    users = image_users.used_by(pools.of_image(meta.namespace, meta.name, status))
    spec = _parse(body, meta, now)
    if isinstance(spec, Plan):
        await report.publish(rt, PLURAL, body, memo, spec.conditions, {**spec.status, "usedBy": users})
        return None
    try:
        targets = image_plan.image_targets(meta, spec, rt.settings)
        observed = await observe(rt, meta, targets, status)
        plan = image_plan.plan_image(meta, spec, status, observed, now, rt.settings)
        await _perform(rt, plan, body, memo)
    except WriteRefused:
        return polling.fast(rt.settings)  # deleted, stopping or no longer leading: nothing to report
    except ValueError as exc:
        invalid = invalid_spec_plan(meta.generation, now, str(exc))
        await report.publish(rt, PLURAL, body, memo, invalid.conditions, {**invalid.status, "usedBy": users})
        return invalid.requeue_after
    except Exception as exc:
        attempt = int(memo.get("errors", 0))
        memo["errors"] = attempt + 1
        conds, delay = report.error_plan(rt, exc, meta.generation, now, attempt, "reconcile")
        await report.publish(
            rt, PLURAL, body, memo, conds, {"observedGeneration": meta.generation, "usedBy": users}
        )
        return delay
    memo["errors"] = 0
    status_fields = {**report.with_generation(plan, meta.generation), "usedBy": users}
    await report.publish(rt, PLURAL, body, memo, plan.conditions, status_fields)
    if image_users.became_ready(status.get("conditions") or [], plan.conditions):
        for pool in pools.of_image(meta.namespace, meta.name, plan.status):
            ns, name = pool.split("/", 1)
            rt.wakers.nudge(("batchpools", ns, name))
    return image_users.requeue_after(plan.requeue_after, users, status, rt.settings)


@kopf.index(GROUP, VERSION, PLURAL)
async def wake_on_watch_event(*, body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    """Every watch event of the object wakes its sleeping loop to look at the new body. An indexer
    (it stores nothing: None is not indexed) rather than ``on.event``: kopf runs indexers on every
    event without an INFO log line each, and after it has put the new body in place."""
    loop.body_changed(memo, PLURAL, body)


@kopf.daemon(GROUP, VERSION, PLURAL, cancellation_backoff=5.0, cancellation_timeout=10.0)
async def image_loop(
    *, stopped: kopf.DaemonStopped, body: kopf.Body, memo: kopf.Memo, logger: kopf.Logger, **kwargs: Any
) -> None:
    """Reconcile until the image is deleted or the operator stops; sleeps between Azure polls."""
    rt = runtime.of(memo)
    pools = Users.of(kwargs)

    async def once() -> float | None:
        return await reconcile_once(body, memo, pools)

    async def unexpected(exc: BaseException) -> float:
        return polling.fast(rt.settings)

    await loop.run(PLURAL, stopped, body, logger, once, unexpected, memo)


@kopf.on.delete(GROUP, VERSION, PLURAL)
async def image_delete_handler(
    *, body: kopf.Body, memo: kopf.Memo, logger: kopf.Logger, **kwargs: Any
) -> None:
    """Finalizer: wait for every pool using the image, then delete version, image, snapshots.

    Waiting for users happens here, in memory (the indexes), without an Azure call and without
    kopf's ERROR line per retry; the planner's requeue bounds each wait. Before the first Azure
    delete the image publishes Deleting (pools then see it as unusable) and reads its users again.
    """
    rt = runtime.of(memo)
    pools = Users.of(kwargs)
    announced = False
    while True:
        async with guard.finalizer(memo, rt.may_act):
            waiting = await _delete_step(rt, body, memo, pools, announced)
        if waiting is None:
            return
        users, seconds = waiting
        if users:
            await _wait_for_users(rt, body, memo, pools, users, seconds, logger)
        else:
            # Deleting is published: let the watch deliver pools applied a moment before, so they
            # are seen as users before anything is deleted.
            announced = True
            await asyncio.sleep(seconds)


async def _wait_for_users(
    rt: Runtime,
    body: kopf.Body,
    memo: Any,
    pools: Users,
    users: list[str],
    seconds: float,
    logger: kopf.Logger,
) -> None:
    """Until the set of pools using the image changes (in-memory index reads) or ``seconds`` pass."""
    meta = _meta(body)
    logger.info(f"deletion waits for {len(users)} BatchPool(s) using the image: {image_users.shown(users)}")
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        runtime.require_leadership(rt)
        if pools.of_image(meta.namespace, meta.name, guard.status_of(memo, body)) != users:
            return
        await asyncio.sleep(loop.CHANGE_CHECK_SECONDS)


async def _delete_step(
    rt: Runtime, body: kopf.Body, memo: Any, pools: Users, announced: bool
) -> tuple[list[str], float] | None:
    """One step of the deletion: None when the finalizer may be released, else (users, seconds to
    wait) -- users non-empty while pools hold the image."""
    runtime.require_leadership(rt)
    meta = _meta(body)
    now = datetime.now(UTC)
    status = guard.status_of(memo, body)
    spec = _parse(body, meta, now)
    if isinstance(spec, Plan):
        return None  # Never valid, so never created anything in Azure.
    users = pools.of_image(meta.namespace, meta.name, status)
    if users:
        # No Azure call while pools hold the image: the index says who they are.
        plan = image_delete.plan_image_delete(
            meta, spec, status, image_delete.ObservedForDelete(), users, now, rt.settings
        )
        await _publish_deleting(rt, body, memo, plan, users)
        return users, plan.requeue_after or polling.slow(rt.settings)
    announce = image_delete.announcement(meta, spec, announced, now)
    if announce is not None:
        await report.publish(rt, PLURAL, body, memo, announce.conditions, announce.status)
        return [], polling.or_fast(announce.requeue_after, rt.settings)
    try:
        targets = image_plan.image_targets(meta, spec, rt.settings)
        vm_id = image_delete.vm_to_read(targets, status)
        vm = await rt.resources.get(vm_id) if vm_id else None
        snapshot_ids = image_delete.snapshots_to_delete(meta, targets, status, vm)
        observed = image_delete.ObservedForDelete(
            gallery_version=await rt.resources.get(targets.gallery_version_id)
            if targets.gallery_version_id
            else None,
            image=await rt.resources.get(targets.image_id),
            snapshots=await _get_many(rt, snapshot_ids),
        )
        plan = image_delete.plan_image_delete(meta, spec, status, observed, users, now, rt.settings)
        await _perform(rt, plan, body, memo)
    except Exception as exc:
        refused = exc.classification if isinstance(exc, AzureCallError) else None
        if image_delete.releases_when_refused(spec, status, refused):
            return None
        if isinstance(exc, WriteRefused):
            raise kopf.TemporaryError(str(exc), delay=polling.refused()) from exc
        attempt = int(memo.get("delete_errors", 0))
        memo["delete_errors"] = attempt + 1
        conds, delay = report.error_plan(rt, exc, meta.generation, now, attempt, "delete image")
        await report.publish(rt, PLURAL, body, memo, conds, {"observedGeneration": meta.generation})
        raise kopf.TemporaryError(f"deleting image: {exc}", delay=delay) from exc
    if isinstance(plan.action, Release):
        metrics.forget_object(PLURAL, meta.namespace, meta.name)
        return None
    await _publish_deleting(rt, body, memo, plan, users)
    return [], polling.or_fast(plan.requeue_after, rt.settings)


async def _publish_deleting(rt: Runtime, body: kopf.Body, memo: Any, plan: Plan, users: list[str]) -> None:
    status_fields = {
        **report.with_generation(plan, _meta(body).generation),
        "usedBy": image_users.used_by(users),
    }
    await report.publish(rt, PLURAL, body, memo, plan.conditions, status_fields)
