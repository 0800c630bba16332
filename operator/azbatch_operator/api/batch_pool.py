"""``BatchPool`` (azbatch.io/v1alpha1): spec and status, mirroring crds/ (DESIGN.md "API")."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from azbatch_operator.api.common import (
    ApiModel,
    DeletionPolicy,
    Operation,
    StatusCondition,
    StatusModel,
    capped,
)
from azbatch_operator.api.durations import parse_duration

NodeDeallocationOption = Literal["Requeue", "Terminate", "TaskCompletion", "RetainedData"]
POOL_NAME_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"


class ManagedImageRef(ApiModel):
    name: str


class PoolImage(ApiModel):
    managed_image_ref: ManagedImageRef | None = None
    id: str | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> PoolImage:
        if (self.managed_image_ref is None) == (self.id is None):
            raise ValueError("image: set exactly one of managedImageRef or id")
        return self


class FixedScale(ApiModel):
    target_dedicated_nodes: int = Field(default=0, ge=0)
    target_low_priority_nodes: int = Field(default=0, ge=0)
    resize_timeout: str = "PT25M"
    node_deallocation_option: NodeDeallocationOption = "Requeue"

    @field_validator("resize_timeout")
    @classmethod
    def _duration(cls, value: str) -> str:
        if parse_duration(value) < timedelta(minutes=5):
            raise ValueError(f"resizeTimeout {value} is below Batch's minimum of 5 minutes (PT5M)")
        return value


class AutoScale(ApiModel):
    formula: str = Field(min_length=1)
    evaluation_interval: str = "PT15M"

    @field_validator("evaluation_interval")
    @classmethod
    def _duration(cls, value: str) -> str:
        interval = parse_duration(value)
        if not timedelta(minutes=5) <= interval <= timedelta(hours=168):
            raise ValueError(f"evaluationInterval {value} must be between PT5M and PT168H")
        return value


class Scale(ApiModel):
    fixed: FixedScale | None = None
    auto: AutoScale | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Scale:
        if (self.fixed is None) == (self.auto is None):
            raise ValueError("scale: set exactly one of fixed or auto")
        return self


class ResizeRetry(ApiModel):
    """Seed S8: resize again until the target is reached; ``maxAttempts: 0`` means unlimited."""

    max_attempts: int = Field(default=10, ge=0)
    backoff_seconds: int = Field(default=60, ge=0)


UpdateStrategyType = Literal["Manual", "BlueGreen", "ScaleToZero"]
#: Azure-shaped configuration, as the CRD schema validated it (Batch management API 2025-06-01
#: names and nesting); reconcile/pool_config.py turns it into the pool's ARM properties.
Json = dict[str, Any]


class UpdateStrategy(ApiModel):
    """How a change Batch only accepts on an empty pool is carried out (only Manual acts today)."""

    type: UpdateStrategyType = "Manual"
    drain: NodeDeallocationOption = "TaskCompletion"


class PoolIdentity(ApiModel):
    """User-assigned managed identities: a list of ARM ids (Azure's map keyed by id, as a list)."""

    user_assigned_identities: tuple[str, ...] = ()


class NodeRecovery(ApiModel):
    """Self-healing, off unless set: unusable nodes are removed (Batch replaces them) after this long."""

    remove_unusable_after: str | None = None

    @field_validator("remove_unusable_after")
    @classmethod
    def _duration(cls, value: str | None) -> str | None:
        if value is not None:
            parse_duration(value)
        return value

    @property
    def remove_unusable_after_delta(self) -> timedelta | None:
        return None if self.remove_unusable_after is None else parse_duration(self.remove_unusable_after)


class BatchPoolSpec(ApiModel):
    account_id: str
    pool_name: str | None = Field(default=None, pattern=POOL_NAME_PATTERN)
    display_name: str | None = None
    vm_size: str = Field(min_length=1)
    node_agent_sku_id: str = Field(min_length=1)
    image: PoolImage
    scale: Scale = Field(default_factory=lambda: Scale(fixed=FixedScale()))
    resize_retry: ResizeRetry = Field(default_factory=ResizeRetry)
    deletion_policy: DeletionPolicy = "Delete"
    update_strategy: UpdateStrategy = Field(default_factory=UpdateStrategy)
    # Pool properties (Batch's names).
    start_task: Json | None = None
    network_configuration: Json | None = None
    mount_configuration: tuple[Json, ...] | None = None
    task_slots_per_node: int | None = Field(default=None, ge=1, le=256)
    task_scheduling_policy: Json | None = None
    user_accounts: tuple[Json, ...] | None = None
    application_packages: tuple[Json, ...] | None = None
    metadata: tuple[Json, ...] | None = None
    inter_node_communication: Literal["Enabled", "Disabled"] | None = None
    upgrade_policy: Json | None = None
    identity: PoolIdentity | None = None
    tags: dict[str, str] | None = None
    # virtualMachineConfiguration members, flattened to spec level.
    container_configuration: Json | None = None
    security_profile: Json | None = None
    os_disk: Json | None = None
    data_disks: tuple[Json, ...] | None = None
    extensions: tuple[Json, ...] | None = None
    node_placement_configuration: Json | None = None
    disk_encryption_configuration: Json | None = None
    license_type: str | None = None
    windows_configuration: Json | None = None
    node_recovery: NodeRecovery | None = None


class ResizeError(StatusModel):
    code: str | None = None
    #: Batch's message, cut to the CRD's maxLength.
    message: Annotated[str, capped(32768)] | None = None
    time: str | None = None
    #: The pool's allocationStateTransitionTime when the failed resize ended (Azure's clock).
    azure_time: str | None = None


class RolloutStatus(StatusModel):
    """``status.rollout`` while ``updateStrategy`` carries out an empty-pool change (rollout.py)."""

    phase: str | None = None
    strategy: str | None = None
    from_image: str | None = None
    to_image: str | None = None
    new_pool_id: str | None = None
    old_pool_id: str | None = None
    started_at: str | None = None
    fields: tuple[str, ...] | None = None
    #: The old pool's [dedicated, lowPriority] targets when the rollout started.
    old_targets: tuple[int, ...] | None = None
    cause: Annotated[str, capped(4096)] | None = None
    failed_generation: int | None = None
    #: The new pool's resize bookkeeping while it is created (the CRD keeps its fields as given).
    pool: Json | None = None


class NodeStateCounts(StatusModel):
    """Nodes per state of one priority, as Account_ListPoolNodeCounts reports them."""

    idle: int | None = None
    running: int | None = None
    starting: int | None = None
    waiting_for_start_task: int | None = None
    start_task_failed: int | None = None
    unusable: int | None = None
    preempted: int | None = None
    leaving_pool: int | None = None
    rebooting: int | None = None
    reimaging: int | None = None
    offline: int | None = None
    creating: int | None = None
    unknown: int | None = None
    total: int | None = None


class NodeCounts(StatusModel):
    dedicated: NodeStateCounts | None = None
    low_priority: NodeStateCounts | None = None


class NodeHealth(StatusModel):
    """While nodes are unhealthy: the reason (StartTaskFailed / NodesUnusable) and since when."""

    reason: str | None = None
    since: str | None = None


class BatchPoolStatus(StatusModel):
    """What the operator writes to a BatchPool's status: each field optional (None removes it)."""

    pool_id: str | None = None
    operations: tuple[Operation, ...] | None = None
    rollout: RolloutStatus | None = None
    allocation_state: str | None = None
    current_dedicated_nodes: int | None = None
    current_low_priority_nodes: int | None = None
    target_dedicated_nodes: int | None = None
    target_low_priority_nodes: int | None = None
    resize_attempts: int | None = None
    last_resize_error: ResizeError | None = None
    image_reference: str | None = None
    secret_versions: dict[str, str] | None = None
    account_pool_allocation_mode: str | None = None
    #: From the Batch data plane.
    node_counts: NodeCounts | None = None
    usable_nodes: str | None = None
    node_health: NodeHealth | None = None
    observed_generation: int | None = None
    conditions: tuple[StatusCondition, ...] | None = None
