"""BatchPool: the next action towards a pool on the resolved image at its target size.

Contract::

    pool_id = pool_resource_id(meta, spec)
    plan = plan_pool(meta, spec, status, image, account, pool, limit, now, settings)

``image`` is the shell's resolution of ``spec.image`` (a ManagedImage's gallery version or image id,
or ``spec.image.id``) with its readiness; ``account`` the GET of the Batch account (None = 404);
``pool`` the GET of the pool (None = 404); ``limit`` the aggregate verdict for the spec's targets.
Checks (spec, account, image readiness, same subscription/region (S4), node limits (S7)) all happen
before any write.  A pool is PUT only when GET said 404: an existing pool is adopted when its
immutable properties match, never PUT again (Batch refuses with PropertyCannotBeUpdated).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from azbatch_operator.api.batch_pool import BatchPoolSpec
from azbatch_operator.api.managed_image import normalize_location
from azbatch_operator.reconcile import (
    arm_ids,
    conditions,
    lro,
    names,
    ownership,
    polling,
    pool_update,
    resize,
)
from azbatch_operator.reconcile.conditions import Reason
from azbatch_operator.reconcile.errors import Category, Classification
from azbatch_operator.reconcile.image_limits import ImageLimitVerdict
from azbatch_operator.reconcile.plan import (
    AdoptPool,
    CreatePool,
    DeletePool,
    Done,
    Plan,
    Release,
    StopResize,
    UpdateAutoScale,
    Wait,
    stall_plan,
)
from azbatch_operator.settings import Settings


@dataclass(frozen=True)
class ResolvedImage:
    """The image a pool should use, as resolved by the shell.

    ``ready`` False with ``reason`` ImageNotReady means "wait" (ManagedImage still building);
    ImageNotFound / AccessDenied mean "stall".  ``location`` (managed image) and ``target_regions``
    (gallery version replication) feed the S4 check when known.  ``exists`` answers a CheckImage.
    """

    image_id: str | None
    ready: bool = True
    reason: Reason | None = None
    message: str = ""
    location: str | None = None
    target_regions: tuple[str, ...] | None = None
    exists: bool | None = None

    @property
    def unread(self) -> bool:
        """A user-given image id whose location and replication regions are not known yet (the S4
        check needs them: the shell reads the image)."""
        return self.image_id is not None and self.location is None and self.target_regions is None

    def as_read(self, found: Mapping[str, Any] | None) -> ResolvedImage:
        """The image with what its GET returned (None: 404): its location and replication regions,
        or ImageNotFound."""
        if found is None:
            return ResolvedImage(
                self.image_id,
                ready=False,
                reason=Reason.IMAGE_NOT_FOUND,
                message=f"image {self.image_id} does not exist; check spec.image.id",
                exists=False,
            )
        regions = ((found.get("properties") or {}).get("publishingProfile") or {}).get("targetRegions")
        return ResolvedImage(
            self.image_id,
            location=found.get("location"),
            target_regions=tuple(r.get("name", "") for r in regions) if regions else None,
            exists=True,
        )

    def checked(self, exists: bool) -> ResolvedImage:
        """The image once a CheckImage's GET answered: usable as far as the pool's own check goes,
        with ``exists`` telling the planner whether Azure still has it."""
        return ResolvedImage(
            self.image_id, location=self.location, target_regions=self.target_regions, exists=exists
        )


@dataclass(frozen=True)
class AccountInfo:
    account_id: str
    location: str
    pool_allocation_mode: str | None = None

    @classmethod
    def from_arm(cls, account_id: str, found: Mapping[str, Any]) -> AccountInfo:
        """From the Batch account's GET: its location and pool allocation mode."""
        props = found.get("properties") or {}
        return cls(account_id, str(found.get("location") or ""), props.get("poolAllocationMode"))

    @property
    def subscription(self) -> str:
        return arm_ids.parse(self.account_id).subscription


def pool_resource_id(meta: names.ObjectMeta, spec: BatchPoolSpec) -> str:
    account = arm_ids.parse(spec.account_id)
    return str(account.child("pools", names.pool_name(spec.pool_name, meta.name)))


def validate_pool_spec(spec: BatchPoolSpec) -> list[str]:
    problems = []
    if not arm_ids.is_batch_account_id(spec.account_id):
        problems.append(f"spec.accountId {spec.account_id!r} is not a Microsoft.Batch/batchAccounts id")
    if spec.image.id is not None and not (
        arm_ids.is_managed_image_id(spec.image.id)
        or arm_ids.is_gallery_image_version_id(spec.image.id)
        or arm_ids.is_gallery_image_definition_id(spec.image.id)
    ):
        problems.append(
            f"spec.image.id {spec.image.id!r} is neither a managed image (Microsoft.Compute/images), a "
            "gallery image definition (Microsoft.Compute/galleries/images, latest version) nor a "
            "gallery image version (Microsoft.Compute/galleries/images/versions) id"
        )
    return problems


def region_mismatch(image_id: str, image: ResolvedImage, account: AccountInfo) -> str | None:
    """Seed S4 as DESIGN.md reads it: a managed image sits in the account's subscription and region;
    a gallery version is replicated to the account's region.  None when they match (or are unknown)."""
    rid = arm_ids.try_parse(image_id)
    if rid is None:
        return None
    region = normalize_location(account.location)
    if rid.is_type(arm_ids.MANAGED_IMAGE):
        if rid.subscription.lower() != account.subscription.lower():
            return (
                f"managed image {image_id} is in subscription {rid.subscription} but the Batch account is in "
                f"{account.subscription}; Batch needs the image in the account's subscription and region "
                "(or publish it to a Compute Gallery)"
            )
        if image.location is not None and normalize_location(image.location) != region:
            return (
                f"managed image {image_id} is in {image.location} but the Batch account is in "
                f"{account.location}; create the image in {account.location} or publish it to a gallery "
                f"replicated there"
            )
    elif rid.is_type(arm_ids.GALLERY_IMAGE_VERSION) and image.target_regions is not None:
        regions = {normalize_location(r) for r in image.target_regions}
        if region not in regions:
            return (
                f"gallery image version {image_id} is replicated to {', '.join(image.target_regions)} but "
                f"not to the Batch account's region {account.location}; add {account.location} to "
                "the ManagedImage's gallery.targetRegions"
            )
    return None


def create_params(meta: names.ObjectMeta, spec: BatchPoolSpec, image_id: str) -> dict[str, Any]:
    """The pool PUT body (ARM shape, seed S6)."""
    scale: dict[str, Any]
    if spec.scale.fixed is not None:
        scale = resize.resize_params(spec.scale.fixed)["properties"]["scaleSettings"]
    else:
        assert spec.scale.auto is not None
        scale = {
            "autoScale": {
                "formula": spec.scale.auto.formula,
                "evaluationInterval": spec.scale.auto.evaluation_interval,
            }
        }
    return {
        "properties": {
            "vmSize": spec.vm_size,
            "deploymentConfiguration": {
                "virtualMachineConfiguration": {
                    "imageReference": {"id": image_id},
                    "nodeAgentSkuId": spec.node_agent_sku_id,
                }
            },
            "scaleSettings": scale,
            "metadata": [{"name": k, "value": v} for k, v in names.owner_tags(meta).items()],
        }
    }


def immutable_differences(spec: BatchPoolSpec, image_id: str | None, pool: Mapping[str, Any]) -> list[str]:
    """What an existing pool has that the spec cannot change in place."""
    props = pool.get("properties") or {}
    vmc = (props.get("deploymentConfiguration") or {}).get("virtualMachineConfiguration") or {}
    diffs = []
    vm_size = str(props.get("vmSize") or "")
    if vm_size.lower() != spec.vm_size.lower():
        diffs.append(f"vmSize is {vm_size} (spec: {spec.vm_size})")
    sku = str(vmc.get("nodeAgentSkuId") or "")
    if sku.lower() != spec.node_agent_sku_id.lower():
        diffs.append(f"nodeAgentSkuId is {sku} (spec: {spec.node_agent_sku_id})")
    actual_image = (vmc.get("imageReference") or {}).get("id")
    if image_id is not None and not arm_ids.same(actual_image, image_id):
        diffs.append(f"image is {actual_image} (spec resolves to {image_id})")
    return diffs


def _auto_scale_differs(spec: BatchPoolSpec, pool: Mapping[str, Any]) -> bool:
    assert spec.scale.auto is not None
    auto = ((pool.get("properties") or {}).get("scaleSettings") or {}).get("autoScale")
    if not auto:
        return True
    return (
        str(auto.get("formula", "")).strip() != spec.scale.auto.formula.strip()
        or str(auto.get("evaluationInterval", "")).upper() != spec.scale.auto.evaluation_interval.upper()
    )


def plan_pool(
    meta: names.ObjectMeta,
    spec: BatchPoolSpec,
    status: Mapping[str, Any],
    image: ResolvedImage,
    account: AccountInfo | None,
    pool: Mapping[str, Any] | None,
    limit: ImageLimitVerdict | None,
    now: datetime,
    settings: Settings,
    config: pool_update.DesiredConfig | None = None,
    pool_id: str | None = None,
) -> Plan:
    """The single next step for a BatchPool (see the module docstring).

    ``config`` is the full pool configuration (reconcile/pool_update.py); without it only the
    scale and the properties of ``create_params`` are managed.  ``pool_id``: the pool planned for
    when it is not the spec's own name (a rollout's ``<poolName>-b``, reconcile/rollout.py).
    """
    plan = _plan_pool(meta, spec, status, image, account, pool, limit, now, settings, config, pool_id)
    if limit is None:
        return plan
    shared = conditions.condition(
        conditions.IMAGE_SHARED,
        limit.shared,
        Reason.IMAGE_SHARED if limit.shared else Reason.NOT_SHARED,
        limit.shared_message() if limit.shared else "no other BatchPool uses this image",
        meta.generation,
        now,
    )
    warnings = (limit.shared_message(),) if limit.shared else ()
    return replace(plan, conditions=(*plan.conditions, shared), warnings=(*plan.warnings, *warnings))


def _plan_pool(
    meta: names.ObjectMeta,
    spec: BatchPoolSpec,
    status: Mapping[str, Any],
    image: ResolvedImage,
    account: AccountInfo | None,
    pool: Mapping[str, Any] | None,
    limit: ImageLimitVerdict | None,
    now: datetime,
    settings: Settings,
    config: pool_update.DesiredConfig | None = None,
    pool_id: str | None = None,
) -> Plan:
    gen = meta.generation
    problems = validate_pool_spec(spec)
    if problems:
        return stall_plan(gen, now, Reason.INVALID_SPEC, "; ".join(problems))
    pool_id = pool_id or pool_resource_id(meta, spec)
    if account is None:
        return stall_plan(
            gen,
            now,
            Reason.INVALID_SPEC,
            f"Batch account {spec.account_id} was not found; check spec.accountId",
            requeue_after=polling.slow(settings),
        )
    base: dict[str, Any] = {
        "observedGeneration": gen,
        "accountPoolAllocationMode": account.pool_allocation_mode,
    }
    if image.image_id is not None:
        base["imageReference"] = image.image_id

    def stall(reason: Reason, message: str, after: float | None = None) -> Plan:
        return stall_plan(gen, now, reason, message, base, after)

    def progressing(action: Any, reason: Reason, message: str, after: float, **extra: Any) -> Plan:
        return Plan(
            action, tuple(conditions.progressing(gen, now, reason, message)), {**base, **extra}, after
        )

    if pool is None:
        in_flight = lro.recently_started(lro.operations(status), pool_id, now, settings.create_grace_seconds)
        if in_flight is not None and in_flight.type == "CreatePool":
            # Our create is sent (maybe by a previous leader) and not visible yet: a second PUT
            # could land after a deletion that only knows of the first one (a pool nobody owns).
            sent = conditions.rfc3339(in_flight.started_at)
            wait = Wait(polling.fast(settings), Reason.CREATING)
            message = f"waiting for pool {pool_id} to appear: its create was sent at {sent}"
            return progressing(wait, Reason.CREATING, message, wait.seconds)
        return _plan_create(
            meta, spec, status, image, account, limit, pool_id, base, now, settings, stall, config
        )

    owner = ownership.decide(ownership.pool_tags(pool), meta)
    if owner.foreign:
        # Someone else's pool: nothing of it goes into this object's status (no poolId, so the
        # finalizer never deletes it; no node counts, which are not this object's).
        return stall_plan(
            gen,
            now,
            Reason.ALREADY_OWNED,
            ownership.already_owned_message(
                "pool",
                pool_id,
                owner,
                "choose another spec.poolName (or accountId) for this BatchPool",
            ),
            {**base, **_cleared(status, "poolId", "operations")},
            polling.slow(settings),
        )
    base.update(_observed_status(pool))
    base.update(_cleared(status, "operations"))  # the pool is seen: no create in flight any more
    if lro.state_of(pool) is lro.State.DELETING:
        wait = Wait(polling.fast(settings), Reason.WAITING)
        return progressing(
            wait, Reason.WAITING, f"pool {pool_id} is being deleted in Azure; waiting", wait.seconds
        )
    # --- pool configuration (issue 12): a pool this object created or adopted is updated in
    # place below; a foreign one is adopted only when its whole configuration matches.
    if config is None:
        diffs = immutable_differences(spec, image.image_id, pool)
    elif arm_ids.same(status.get("poolId"), pool_id) or _ours(meta, status, pool):
        diffs = []
    else:
        found = pool_update.adoption_differences(config, pool)
        if found:
            detailed = immutable_differences(spec, image.image_id, pool)
            shown = {"vmSize", "nodeAgentSkuId", "image"}
            others = [name for name in found if name not in shown]
            what = "; ".join([*detailed, *([f"also {pool_update.named(others)}"] if others else [])])
            return stall(
                Reason.INVALID_SPEC,
                f"existing pool {pool_id} was not created by this object and differs from the spec: "
                f"{what}; it is adopted only when its whole configuration matches: delete the pool in "
                "Azure, align the spec, or choose another spec.poolName",
            )
        diffs = []
    if diffs:
        return stall(
            Reason.INVALID_SPEC,
            f"existing pool {pool_id} differs in properties Azure cannot change in place: "
            f"{'; '.join(diffs)}; delete the pool in Azure or choose another spec.poolName",
        )
    recorded = arm_ids.same(status.get("poolId"), pool_id)
    if owner.kind is ownership.Kind.UNOWNED and not (recorded and config is not None):
        # (A pool recorded as ours whose stamp was removed out of band is not adopted again: the
        # configuration PATCH below restores the stamp with the rest of its metadata, in one write.)
        # Made outside the operator: adopt it, stamping this object's ownership first so that a
        # second object naming the same pool finds it owned instead of adopting it too. Batch never
        # returns secrets, so an adopted pool is taken to hold the current Secret versions; a
        # rotation after this is sent as usual.
        secret_versions = {} if config is None else {"secretVersions": dict(config.secret_versions)}
        matched = "immutable properties match" if config is None else "configuration matches"
        return progressing(
            AdoptPool(pool_id, {"properties": {"metadata": ownership.stamped_metadata(pool, meta)}}),
            Reason.ADOPTED,
            f"adopted existing pool {pool_id} (its {matched} the spec)",
            polling.fast(settings),
            poolId=pool_id,
            **secret_versions,
        )
    base["poolId"] = pool_id
    if config is not None and not recorded:
        # Ours, found again after a crash before its status write: the PUT carried the current
        # Secrets, so record their versions instead of taking them for a rotation (which, on an
        # empty-pool property such as a user password, would stall a pool with nodes).
        base["secretVersions"] = dict(config.secret_versions)
        status = {**status, "secretVersions": base["secretVersions"]}
    # --- pool configuration (issue 12): PATCH what differs before any scale decision.
    if config is not None:
        update = pool_update.plan_update(gen, now, pool_id, spec, config, pool, status, base, settings)
        if update is not None:
            return update

    if spec.scale.auto is not None:
        allocation = str(base.get("allocationState") or "Steady").lower()
        if _auto_scale_differs(spec, pool):
            if allocation == "resizing":
                return progressing(
                    StopResize(pool_id),
                    Reason.STOPPING_RESIZE,
                    "stopping the current resize before enabling autoscale",
                    polling.fast(settings),
                )
            if allocation == "stopping":
                wait = Wait(polling.fast(settings), Reason.STOPPING_RESIZE)
                return progressing(
                    wait, Reason.STOPPING_RESIZE, "waiting for the resize to stop", wait.seconds
                )
            params = {
                "properties": {"scaleSettings": create_params(meta, spec, "")["properties"]["scaleSettings"]}
            }
            return progressing(
                UpdateAutoScale(pool_id, params),
                Reason.UPDATING,
                "updating the autoscale formula",
                polling.fast(settings),
            )
        message = (
            f"autoscale enabled; {base.get('currentDedicatedNodes', 0)} dedicated and "
            f"{base.get('currentLowPriorityNodes', 0)} low-priority nodes"
        )
        cond = conditions.ready(gen, now, Reason.SUCCEEDED, message)
        after = polling.fast(settings) if allocation != "steady" else polling.slow(settings)
        return Plan(Done(), tuple(cond), base, after)

    assert spec.scale.fixed is not None
    plan = resize.plan_resize(
        gen,
        pool_id,
        image.image_id,
        spec.scale.fixed,
        spec.resize_retry,
        status,
        resize.PoolObservation.from_arm(pool),
        limit,
        image.exists,
        now,
        settings,
    )
    return replace(plan, status={**base, **plan.status})


def waits_unread(image: ResolvedImage, status: Mapping[str, Any]) -> bool:
    """True when the pool's Azure state cannot change the plan: the image is not ready and no pool
    was ever created or sent for this object, so it only waits for the image (no read needed)."""
    return not image.ready and not status.get("poolId") and not status.get("operations")


def _plan_create(
    meta: names.ObjectMeta,
    spec: BatchPoolSpec,
    status: Mapping[str, Any],
    image: ResolvedImage,
    account: AccountInfo,
    limit: ImageLimitVerdict | None,
    pool_id: str,
    base: dict[str, Any],
    now: datetime,
    settings: Settings,
    stall: Any,
    config: pool_update.DesiredConfig | None = None,
) -> Plan:
    gen = meta.generation
    if not image.ready or image.image_id is None:
        reason = image.reason or Reason.IMAGE_NOT_READY
        message = image.message or "waiting for the image to be ready"
        if reason is Reason.IMAGE_NOT_READY:
            wait = Wait(polling.fast(settings), reason)
            cond = conditions.progressing(gen, now, reason, message)
            return Plan(wait, tuple(cond), base, wait.seconds)
        result: Plan = stall(reason, message, polling.slow(settings))
        return result
    mismatch = region_mismatch(image.image_id, image, account)
    if mismatch:
        result = stall(Reason.IMAGE_REGION_MISMATCH, mismatch)
        return result
    if spec.scale.fixed is not None and limit is not None and not limit.fits:
        result = stall(Reason.IMAGE_NODE_LIMIT_EXCEEDED, limit.message, polling.slow(settings))
        return result
    again = (
        " (the pool recorded in status is gone from Azure; creating it again)" if status.get("poolId") else ""
    )
    extra: dict[str, Any] = {"poolId": pool_id, "resizeAttempts": 1 if spec.scale.fixed else 0}
    if spec.scale.fixed is not None:
        extra |= {
            "targetDedicatedNodes": spec.scale.fixed.target_dedicated_nodes,
            "targetLowPriorityNodes": spec.scale.fixed.target_low_priority_nodes,
        }
    # Recorded (and written to status) before the PUT is sent: a finalizer that finds no pool while
    # this create is in flight waits for it instead of releasing the object over a pool to come.
    extra["operations"] = [lro.Operation("CreatePool", pool_id, now).to_status()]
    cond = conditions.progressing(gen, now, Reason.CREATING, f"creating pool {pool_id}{again}")
    params = create_params(meta, spec, image.image_id)
    if config is not None:  # --- pool configuration (issue 12): the whole pool in one PUT.
        props = {**params["properties"], **config.body["properties"]}
        vmc_key = ("deploymentConfiguration", "virtualMachineConfiguration")
        props[vmc_key[0]] = {
            vmc_key[1]: {
                **params["properties"][vmc_key[0]][vmc_key[1]],
                **config.body["properties"][vmc_key[0]][vmc_key[1]],
            }
        }
        params = {**config.body, "properties": props}
        extra["secretVersions"] = dict(config.secret_versions)
    return Plan(
        CreatePool(pool_id, params),
        tuple(cond),
        {**base, **extra},
        polling.fast(settings),
    )


def _cleared(status: Mapping[str, Any], *keys: str) -> dict[str, Any]:
    """Merge-patch entries removing ``keys`` from status, only for those it has (a steady object's
    status then stays unchanged, which costs no write)."""
    return {key: None for key in keys if status.get(key) is not None}


def _observed_status(pool: Mapping[str, Any]) -> dict[str, Any]:
    props = pool.get("properties") or {}
    fixed = (props.get("scaleSettings") or {}).get("fixedScale") or {}
    out: dict[str, Any] = {
        "allocationState": props.get("allocationState"),
        "currentDedicatedNodes": int(props.get("currentDedicatedNodes") or 0),
        "currentLowPriorityNodes": int(props.get("currentLowPriorityNodes") or 0),
    }
    if fixed:
        out["targetDedicatedNodes"] = int(fixed.get("targetDedicatedNodes") or 0)
        out["targetLowPriorityNodes"] = int(fixed.get("targetLowPriorityNodes") or 0)
    else:
        # Autoscale: the targets are what the last formula evaluation decided
        # (``autoScaleRun.results``: "$TargetDedicatedNodes=4;$TargetLowPriorityNodes=0;...").
        results = str((props.get("autoScaleRun") or {}).get("results") or "")
        for name, key in (
            ("TargetDedicatedNodes", "targetDedicatedNodes"),
            ("TargetLowPriorityNodes", "targetLowPriorityNodes"),
        ):
            found = re.search(rf"\${name}\s*=\s*(\d+)", results)
            if found:
                out[key] = int(found.group(1))
    return out


def _ours(meta: names.ObjectMeta, status: Mapping[str, Any], pool: Mapping[str, Any]) -> bool:
    """Stamped with this object's uid (created, or adopted and stamped, by it), or unowned and
    recorded in status.  A crash between the PUT and the status write leaves only the stamp, and the
    pool must not be orphaned for that; a pool another object's tags name is never ours, whatever
    status says."""
    owner = ownership.decide(ownership.pool_tags(pool), meta)
    if owner.kind is ownership.Kind.UNOWNED:
        return arm_ids.same(status.get("poolId"), pool.get("id"))
    return owner.kind is ownership.Kind.OURS


def pool_to_delete(meta: names.ObjectMeta, spec: BatchPoolSpec, status: Mapping[str, Any]) -> str | None:
    """Finalizer: the pool status recorded, else this object's own; None when nothing was recorded
    and the spec never had valid ARM ids (so nothing was ever created)."""
    recorded = status.get("poolId")
    if recorded:
        return str(recorded)
    return None if validate_pool_spec(spec) else pool_resource_id(meta, spec)


def releases_when_refused(status: Mapping[str, Any], error: Classification | None) -> bool:
    """Finalizer: a read refused (403) when no pool was ever recorded (e.g. an accountId in a
    subscription the operator has no role in): holding the finalizer would only block deletion."""
    return error is not None and error.category is Category.FORBIDDEN and not status.get("poolId")


def plan_pool_delete(
    meta: names.ObjectMeta,
    spec: BatchPoolSpec,
    status: Mapping[str, Any],
    pool: Mapping[str, Any] | None,
    now: datetime,
    settings: Settings,
    pool_id: str | None = None,
) -> Plan:
    """Finalizer: Orphan releases at once; Delete removes the pool (only one this object created or
    adopted: see ``_ours``) and waits until GET says 404.  A create recorded in ``status.operations``
    that GET does not show yet is waited for (then deleted) before the object is released."""
    gen = meta.generation
    if spec.deletion_policy != "Orphan" and pool is None and pool_id is not None:
        in_flight = lro.recently_started(lro.operations(status), pool_id, now, settings.create_grace_seconds)
        if in_flight is not None and in_flight.type == "CreatePool":
            sent = conditions.rfc3339(in_flight.started_at)
            message = f"waiting for the create of pool {pool_id} sent at {sent}; it is deleted once it exists"
            return Plan(
                Wait(polling.fast(settings), Reason.DELETING),
                tuple(conditions.deleting(gen, now, message)),
                {"observedGeneration": gen},
                polling.fast(settings),
            )
    if spec.deletion_policy == "Orphan" or pool is None or not _ours(meta, status, pool):
        why = "deletionPolicy Orphan" if spec.deletion_policy == "Orphan" else "no pool of ours left in Azure"
        return Plan(
            Release(why),
            tuple(conditions.deleting(gen, now, f"releasing: {why}")),
            {"observedGeneration": gen},
        )
    pool_id = str(pool.get("id"))
    if lro.state_of(pool) is lro.State.DELETING:
        wait = Wait(polling.fast(settings), Reason.DELETING)
        cond = conditions.deleting(gen, now, f"waiting for pool {pool_id} to be deleted")
        return Plan(wait, tuple(cond), {"observedGeneration": gen}, wait.seconds)
    cond = conditions.deleting(gen, now, f"deleting pool {pool_id}")
    return Plan(DeletePool(pool_id), tuple(cond), {"observedGeneration": gen}, polling.fast(settings))
