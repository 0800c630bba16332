"""The configuration step of an existing pool: PATCH what differs, or say why it cannot be.

Contract::

    config = DesiredConfig.build(meta, spec, image_id, secrets)     # raises MissingSecret
    plan = plan_update(gen, now, pool_id, spec, config, pool, status, base, settings)  # None: in sync
    names = adoption_differences(config, pool)                       # [] when a foreign pool matches

Rules (see pool_diff for which property is which):

* Live differences (startTask, applicationPackages, metadata, identity, tags) are one PATCH.
* Empty-pool differences are PATCHed with them when the pool is Steady at 0 nodes.
* Otherwise ``updateStrategy`` decides: ``Manual`` is Stalled ``UpdateRequiresEmptyPool`` naming the
  fields, unless the spec's fixed targets are 0 (the resize planner empties the pool and the PATCH
  follows).  ``BlueGreen`` / ``ScaleToZero`` are carried out by reconcile/rollout.py before this
  planner is reached (it then only sees the pool at 0 nodes, or a new pool).
* A Secret whose resourceVersion differs from ``status.secretVersions`` marks the fields that
  reference it as changed: Batch never returns secrets, so their values cannot be compared.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from azbatch_operator.api.batch_pool import BatchPoolSpec
from azbatch_operator.reconcile import conditions, names, polling, pool_config, pool_diff
from azbatch_operator.reconcile.conditions import Reason
from azbatch_operator.reconcile.plan import Plan, UpdatePool, stall_plan
from azbatch_operator.settings import Settings

Json = dict[str, Any]
#: Messages list at most this many fields, then "and N more".
MAX_FIELDS_NAMED = 8


@dataclass(frozen=True)
class DesiredConfig:
    """The pool the spec describes (secrets resolved) and the Secret versions it was built from."""

    body: Json
    refs_by_field: Mapping[str, tuple[pool_config.SecretKey, ...]] = field(default_factory=dict)
    secret_versions: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def build(
        cls,
        meta: names.ObjectMeta,
        spec: BatchPoolSpec,
        image_id: str | None,
        secrets: pool_config.SecretValues | None = None,
    ) -> DesiredConfig:
        secrets = secrets or pool_config.SecretValues()
        body = pool_config.desired_pool(meta, spec, image_id, secrets)
        refs = pool_config.secret_refs_by_field(spec)
        all_refs = tuple(r for group in refs.values() for r in group)
        return cls(body, refs, secrets.recorded(all_refs))

    def rotated(self, status: Mapping[str, Any]) -> set[str]:
        """Spec fields referencing a Secret that changed since the pool last got it."""
        recorded = status.get("secretVersions") or {}
        return {
            name
            for name, refs in self.refs_by_field.items()
            if any(recorded.get(f"{n}/{k}") != self.secret_versions.get(f"{n}/{k}") for n, k in refs)
        }


def named(fields: tuple[str, ...] | list[str]) -> str:
    unique = list(dict.fromkeys(fields))
    shown = ", ".join(unique[:MAX_FIELDS_NAMED])
    more = len(unique) - MAX_FIELDS_NAMED
    return f"{shown} and {more} more" if more > 0 else shown


def _without_owner_entries(body: Mapping[str, Any]) -> Json:
    props = dict(body.get("properties") or {})
    props["metadata"] = [
        e for e in props.get("metadata") or () if not str(e.get("name", "")).startswith(names.OWNER_PREFIX)
    ]
    return {**body, "properties": props}


def adoption_differences(config: DesiredConfig, pool: Mapping[str, Any]) -> list[str]:
    """Spec fields a pool the operator did not create differs in (it is adopted only when none).

    The operator's own metadata entries are left out: a pool nobody owns lacks them, and they are
    added by the first PATCH after adoption."""
    found = pool_diff.diff(_without_owner_entries(config.body), _without_owner_entries(pool))
    return list(dict.fromkeys((*found.empty_fields, *found.live_fields)))


def plan_update(
    gen: int,
    now: datetime,
    pool_id: str,
    spec: BatchPoolSpec,
    config: DesiredConfig,
    pool: Mapping[str, Any],
    status: Mapping[str, Any],
    base: Mapping[str, Any],
    settings: Settings,
) -> Plan | None:
    """The PATCH (or the Stall) that brings the pool's configuration to the spec; None when equal."""
    found = pool_diff.diff(config.body, pool, config.rotated(status))
    if not found.changed:
        return None
    props: Mapping[str, Any] = pool.get("properties") or {}
    nodes = int(props.get("currentDedicatedNodes") or 0) + int(props.get("currentLowPriorityNodes") or 0)
    steady = str(props.get("allocationState") or "Steady").lower() == "steady"
    status_out = {**base, "secretVersions": dict(config.secret_versions)}

    def update(body: Json, fields: tuple[str, ...], message: str) -> Plan:
        cond = conditions.progressing(gen, now, Reason.UPDATING, message)
        return Plan(UpdatePool(pool_id, body, fields), tuple(cond), status_out, polling.fast(settings))

    if found.empty_fields and nodes == 0 and steady:
        fields = (*found.live_fields, *found.empty_fields)
        return update(
            found.patch(include_empty=True),
            fields,
            f"updating pool properties {named(fields)} (the pool has 0 nodes)",
        )
    if found.live_fields:
        return update(
            found.patch(include_empty=False),
            found.live_fields,
            f"updating pool properties {named(found.live_fields)} in place",
        )
    fixed = spec.scale.fixed
    if fixed is not None and fixed.target_dedicated_nodes == 0 and fixed.target_low_priority_nodes == 0:
        return None  # The resize planner empties the pool; the PATCH follows at 0 nodes.
    message = (
        f"{named(found.empty_fields)} differ from pool {pool_id}, and Azure Batch only changes "
        f"{'it' if len(found.empty_fields) == 1 else 'them'} on a pool with 0 nodes (it has {nodes}"
        f"{'' if steady else ', resizing'}). To apply: set spec.scale.fixed.targetDedicatedNodes and "
        "targetLowPriorityNodes to 0 (the operator PATCHes the pool once it is empty; then scale "
        "back up), set spec.updateStrategy.type to BlueGreen (a new pool with the new settings "
        "replaces this one; the pool id changes) or ScaleToZero (this pool is drained, updated "
        "and scaled back; the id stays), or revert the change"
    )
    return stall_plan(gen, now, Reason.UPDATE_REQUIRES_EMPTY_POOL, message, base, polling.slow(settings))
