"""ManagedImage handlers: one reconcile loop per image (a kopf daemon) and a protected deletion."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import kopf
import pydantic

from azbatch_operator import api, metrics
from azbatch_operator.api.managed_image import ManagedImageSpec
from azbatch_operator.azure.calls import AzureCallError
from azbatch_operator.handlers import loop, report, runtime
from azbatch_operator.kube import GROUP, VERSION
from azbatch_operator.reconcile import conditions, image_delete, image_plan, names, polling
from azbatch_operator.reconcile.conditions import Reason
from azbatch_operator.reconcile.errors import Category
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


def used_by(namespace: str, name: str, pools_by_image: kopf.Index[Any, Any]) -> list[str]:
    return sorted(set(pools_by_image.get((namespace, name), [])))


async def _get_many(ids: list[str]) -> dict[str, Mapping[str, Any] | None]:
    resources = runtime.get().resources
    found = await asyncio.gather(*(resources.get(i) for i in ids))
    return {i.lower(): f for i, f in zip(ids, found, strict=True)}


async def observe(
    meta: names.ObjectMeta, targets: image_plan.ImageTargets, status: Mapping[str, Any]
) -> image_plan.ObservedImage:
    """GET what the planner looks at; skip what an existing image makes irrelevant."""
    resources = runtime.get().resources
    image = await resources.get(targets.image_id)
    vm = None
    snapshot_ids: list[str] = list(targets.source_snapshot_ids)
    if image is None and targets.vm_id is not None:
        vm = await resources.get(targets.vm_id)
        if vm is not None:
            luns = [
                d.get("lun")
                for d in (vm.get("properties") or {}).get("storageProfile", {}).get("dataDisks") or []
            ]
            snapshot_ids = [
                targets.snapshot_id(meta, None),
                *(targets.snapshot_id(meta, int(lun)) for lun in luns),
            ]
    snapshots = await _get_many(snapshot_ids) if image is None else {}
    gallery = definition = version = None
    if (
        targets.gallery_id
        and targets.gallery_definition_id
        and targets.gallery_version_id
        and image is not None
    ):
        found = await _get_many(
            [targets.gallery_id, targets.gallery_definition_id, targets.gallery_version_id]
        )
        gallery = found[targets.gallery_id.lower()]
        definition = found[targets.gallery_definition_id.lower()]
        version = found[targets.gallery_version_id.lower()]
    return image_plan.ObservedImage(vm, snapshots, image, gallery, definition, version)


async def _perform(plan: Plan) -> None:
    resources = runtime.get().resources
    match plan.action:
        case CreateSnapshot(resource_id=rid, params=params) | CreateImage(resource_id=rid, params=params):
            await resources.begin_create(rid, params)
        case EnsureGalleryDefinition(resource_id=rid, params=params):
            await resources.begin_create(rid, params)
        case CreateGalleryVersion(resource_id=rid, params=params):
            await resources.begin_create(rid, params)
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


async def reconcile_once(
    body: kopf.Body, memo: kopf.Memo, pools_by_image: kopf.Index[Any, Any]
) -> float | None:
    rt = runtime.get()
    meta = _meta(body)
    now = datetime.now(UTC)
    status = dict(body.get("status") or {})
    users = [
        {"namespace": p.split("/", 1)[0], "name": p.split("/", 1)[1]}
        for p in used_by(meta.namespace, meta.name, pools_by_image)
    ]
    spec = _parse(body, meta, now)
    if isinstance(spec, Plan):
        await report.publish(PLURAL, body, spec.conditions, {**spec.status, "usedBy": users})
        return None
    try:
        targets = image_plan.image_targets(meta, spec, rt.settings)
        observed = await observe(meta, targets, status)
        plan = image_plan.plan_image(meta, spec, status, observed, now, rt.settings)
        await _perform(plan)
    except ValueError as exc:
        conds = conditions.stalled(meta.generation, now, Reason.INVALID_SPEC, str(exc))
        await report.publish(PLURAL, body, conds, {"observedGeneration": meta.generation, "usedBy": users})
        return None
    except Exception as exc:
        attempt = int(memo.get("errors", 0))
        memo["errors"] = attempt + 1
        conds, delay = report.error_plan(exc, meta.generation, now, attempt, "reconcile")
        await report.publish(PLURAL, body, conds, {"observedGeneration": meta.generation, "usedBy": users})
        return delay
    memo["errors"] = 0
    was_ready = report.is_ready(status.get("conditions") or [])
    await report.publish(
        PLURAL, body, plan.conditions, {**report.with_generation(plan, meta.generation), "usedBy": users}
    )
    if report.is_ready(plan.conditions) and not was_ready:
        for pool in used_by(meta.namespace, meta.name, pools_by_image):
            ns, name = pool.split("/", 1)
            loop.nudge("batchpools", ns, name)
    if users != status.get("usedBy"):
        # Pools come and go without touching this object: look at the index again soon.
        return min(plan.requeue_after or rt.settings.poll_fast_seconds, rt.settings.poll_fast_seconds)
    return plan.requeue_after


@kopf.daemon(GROUP, VERSION, PLURAL, cancellation_backoff=5.0, cancellation_timeout=10.0)
async def image_loop(
    *, stopped: kopf.DaemonStopped, body: kopf.Body, memo: Any, logger: kopf.Logger, **kwargs: Any
) -> None:
    """Reconcile until the image is deleted or the operator stops; sleeps between Azure polls."""
    pools_by_image: kopf.Index[Any, Any] = kwargs["pools_by_image"]

    async def once() -> float | None:
        return await reconcile_once(body, memo, pools_by_image)

    async def unexpected(exc: BaseException) -> float:
        return runtime.get().settings.poll_fast_seconds

    await loop.run(PLURAL, stopped, body, logger, once, unexpected)


async def _snapshots_to_delete(
    meta: names.ObjectMeta, targets: image_plan.ImageTargets, status: Mapping[str, Any]
) -> list[str]:
    """Snapshot ids to look at when deleting: those in status, plus (VM source) the deterministic
    names of one per VM disk, so a crash before status recorded them leaks nothing. Only the ones
    tagged with this object's uid are ever deleted (user-supplied snapshots are left alone)."""
    recorded = list(status.get("snapshotIds") or [])
    ids = list(recorded)
    if targets.vm_id is not None:
        ids.append(targets.snapshot_id(meta, None))
        if not recorded:  # status never recorded the data disks: ask the VM which LUNs it has
            vm = await runtime.get().resources.get(targets.vm_id)
            disks = ((vm or {}).get("properties") or {}).get("storageProfile", {}).get("dataDisks") or []
            ids.extend(targets.snapshot_id(meta, int(d["lun"])) for d in disks if d.get("lun") is not None)
    seen: dict[str, str] = {}
    for sid in ids:
        seen.setdefault(sid.lower(), sid)
    return list(seen.values())


@kopf.on.delete(GROUP, VERSION, PLURAL)
async def image_delete_handler(*, body: kopf.Body, memo: Any, **kwargs: Any) -> None:
    """Finalizer: wait for every pool using the image, then delete version, image, snapshots."""
    pools_by_image: kopf.Index[Any, Any] = kwargs["pools_by_image"]
    rt = runtime.require_leadership()
    meta = _meta(body)
    now = datetime.now(UTC)
    status = dict(body.get("status") or {})
    spec = _parse(body, meta, now)
    if isinstance(spec, Plan):
        return  # Never valid, so never created anything in Azure.
    users = used_by(meta.namespace, meta.name, pools_by_image)
    try:
        targets = image_plan.image_targets(meta, spec, rt.settings)
        snapshot_ids = await _snapshots_to_delete(meta, targets, status)
        observed = image_delete.ObservedForDelete(
            gallery_version=await rt.resources.get(targets.gallery_version_id)
            if targets.gallery_version_id
            else None,
            image=await rt.resources.get(targets.image_id),
            snapshots=await _get_many(snapshot_ids),
        )
        plan = image_delete.plan_image_delete(meta, spec, status, observed, users, now, rt.settings)
        await _perform(plan)
    except Exception as exc:
        if (
            isinstance(exc, AzureCallError)
            and exc.classification.category is Category.FORBIDDEN
            and not status.get("imageId")
            and not status.get("galleryImageVersionId")
            and spec.source.virtual_machine is None
        ):
            # Nothing was ever built (no image, no version; snapshots are the user's) and the
            # operator cannot even read there: holding the finalizer would only block deletion.
            return
        attempt = int(memo.get("delete_errors", 0))
        memo["delete_errors"] = attempt + 1
        conds, delay = report.error_plan(exc, meta.generation, now, attempt, "delete image")
        await report.publish(PLURAL, body, conds, {"observedGeneration": meta.generation})
        raise kopf.TemporaryError(f"deleting image: {exc}", delay=delay) from exc
    if isinstance(plan.action, Release):
        metrics.forget_object(PLURAL, meta.namespace, meta.name)
        return
    user_list = [{"namespace": p.split("/", 1)[0], "name": p.split("/", 1)[1]} for p in users]
    await report.publish(
        PLURAL, body, plan.conditions, {**report.with_generation(plan, meta.generation), "usedBy": user_list}
    )
    # Pools leave the index as soon as they are gone: look again quickly, it costs no ARM call.
    delay = polling.fast(rt.settings) if users else (plan.requeue_after or polling.fast(rt.settings))
    raise kopf.TemporaryError(plan.conditions[0]["message"] if plan.conditions else "deleting", delay=delay)
