"""The planners' output: one next action, the status patch and the conditions to write.

Each action carries everything needed for exactly one Azure call (the resource id and the ARM-shaped
body).  Handlers dispatch with ``match plan.action:``.  After performing the action (or right away for
Wait/Done/Stall) the handler writes ``plan.status`` merged with ``conditions.merge(old, plan.conditions)``
and comes back after ``plan.requeue_after`` seconds (None: only on the next change event).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from azbatch_operator.reconcile import conditions
from azbatch_operator.reconcile.conditions import Condition, Reason

Body = Mapping[str, Any]


# --- ManagedImage actions -------------------------------------------------------------------------
@dataclass(frozen=True)
class CreateSnapshot:
    """PUT Microsoft.Compute/snapshots (long-running: record, come back)."""

    resource_id: str
    source_disk_id: str
    lun: int | None
    params: Body


@dataclass(frozen=True)
class CreateImage:
    """PUT Microsoft.Compute/images (long-running)."""

    resource_id: str
    params: Body


@dataclass(frozen=True)
class EnsureGalleryDefinition:
    """PUT Microsoft.Compute/galleries/images (only when absent)."""

    resource_id: str
    params: Body


@dataclass(frozen=True)
class CreateGalleryVersion:
    """PUT Microsoft.Compute/galleries/images/versions (long-running: replication takes minutes)."""

    resource_id: str
    params: Body


@dataclass(frozen=True)
class UpdateGalleryReplication:
    """PATCH the version's publishingProfile (targetRegions / replicaCount change in place)."""

    resource_id: str
    params: Body


@dataclass(frozen=True)
class DeleteResource:
    """DELETE one Azure resource (long-running)."""

    resource_id: str


@dataclass(frozen=True)
class Release:
    """Nothing left to delete (or Orphan policy): remove the finalizer."""

    message: str


# --- BatchPool actions ----------------------------------------------------------------------------
@dataclass(frozen=True)
class CreatePool:
    """PUT .../batchAccounts/{a}/pools/{p} — only ever when GET said 404 (a second PUT is refused)."""

    resource_id: str
    params: Body


@dataclass(frozen=True)
class AdoptPool:
    """An existing pool without an owner matches the spec's immutable fields: stamp this object's
    ownership into its metadata (PATCH ``params``), so no other object can adopt it too."""

    resource_id: str
    params: Body = field(default_factory=dict)


@dataclass(frozen=True)
class ResizePool:
    """PATCH the pool's ``properties.scaleSettings.fixedScale`` (starts a resize)."""

    resource_id: str
    target_dedicated_nodes: int
    target_low_priority_nodes: int
    resize_timeout: str
    params: Body
    #: The pool already has these targets (a retry after the last resize ended short): an ARM PATCH
    #: of the same scaleSettings may start no resize, so the shell sends the data plane's Pool_Resize.
    retry: bool = False
    node_deallocation_option: str = "Requeue"


@dataclass(frozen=True)
class RemoveNodes:
    """Data plane Pool_RemoveNodes (node health recovery): Batch lowers the target by as many."""

    resource_id: str
    node_ids: tuple[str, ...]
    node_deallocation_option: str = "Requeue"


@dataclass(frozen=True)
class StopResize:
    """POST .../pools/{p}/stopResize."""

    resource_id: str


@dataclass(frozen=True)
class UpdateAutoScale:
    """PATCH the pool's ``properties.scaleSettings.autoScale``."""

    resource_id: str
    params: Body


@dataclass(frozen=True)
class UpdatePool:
    """PATCH pool properties that differ from the spec (reconcile/pool_update.py); ``fields`` names
    them for messages and events."""

    resource_id: str
    params: Body
    fields: tuple[str, ...]


@dataclass(frozen=True)
class CheckImage:
    """Ask the shell to GET the image and call the planner again with ``image_exists`` set."""

    image_id: str


@dataclass(frozen=True)
class DeletePool:
    """DELETE the pool (long-running in Batch: ``provisioningState: Deleting``)."""

    resource_id: str


# --- Shared ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Wait:
    """Nothing to call now; come back after ``seconds``."""

    seconds: float
    reason: Reason


@dataclass(frozen=True)
class Done:
    """Azure matches the spec."""


@dataclass(frozen=True)
class Stall:
    """A human must act; ``message`` says what to do."""

    reason: Reason
    message: str


Action = (
    CreateSnapshot
    | CreateImage
    | EnsureGalleryDefinition
    | CreateGalleryVersion
    | UpdateGalleryReplication
    | DeleteResource
    | Release
    | CreatePool
    | AdoptPool
    | ResizePool
    | RemoveNodes
    | StopResize
    | UpdateAutoScale
    | UpdatePool
    | CheckImage
    | DeletePool
    | Wait
    | Done
    | Stall
)


@dataclass(frozen=True)
class Plan:
    action: Action
    #: The Ready/Reconciling/Stalled triad (plus e.g. ImageShared); merge with ``conditions.merge``.
    conditions: tuple[Condition, ...]
    #: camelCase status fields to patch (None values mean "remove the field").
    status: Mapping[str, Any] = field(default_factory=dict)
    #: Seconds until the next reconcile; None = wait for the next change event.
    requeue_after: float | None = None
    #: Human-readable warnings for Kubernetes events (e.g. seed S5 shared image).
    warnings: tuple[str, ...] = ()


def stall_plan(
    gen: int,
    now: datetime,
    reason: Reason,
    message: str,
    status: Mapping[str, Any] | None = None,
    requeue_after: float | None = None,
) -> Plan:
    """A Stall action with matching conditions (used by every planner)."""
    return Plan(
        Stall(reason, message),
        tuple(conditions.stalled(gen, now, reason, message)),
        {**(status or {}), "observedGeneration": gen},
        requeue_after,
    )


def invalid_spec_plan(gen: int, now: datetime, message: str) -> Plan:
    """For a spec that does not even parse (``pydantic.ValidationError``): Stall InvalidSpec."""
    return stall_plan(gen, now, Reason.INVALID_SPEC, message)
