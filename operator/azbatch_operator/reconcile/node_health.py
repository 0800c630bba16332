"""Node health from the Batch data plane: are the pool's nodes usable, and may the loop add more?

Contract::

    counts = NodeCounts.from_wire(entry)                 # the pool's Account_ListPoolNodeCounts entry
    states = states_to_sample(counts, thresholds)        # () or the states worth a ComputeNode_List
    verdict = assess(counts, samples, thresholds, remove_after, status.get("nodeHealth"), now)
    plan = apply(plan, verdict, pool_id, obs, autoscale, gen, now, settings)

A pool whose nodes fail their start task, or sit ``unusable``, reports the management API's node
count like any other, so a resize loop would keep adding nodes that fail the same way.  When the
counts reach a threshold (``Thresholds``) the verdict names the reason (``StartTaskFailed`` before
``NodesUnusable``: it is the more actionable) and one node's error, and ``apply`` keeps the plan from
growing the pool: a growing resize is not sent, a running one is stopped.  With
``spec.nodeRecovery.removeUnusableAfter`` set, unusable nodes seen for that long are removed instead
(Batch lowers the target by as many and the resize loop adds fresh nodes); start-task failures are
never removed, since their replacements would fail too.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from azbatch_operator.reconcile import conditions, lro, polling
from azbatch_operator.reconcile.conditions import Reason, parse_rfc3339, rfc3339
from azbatch_operator.reconcile.plan import (
    AdoptPool,
    CreatePool,
    DeletePool,
    Done,
    Plan,
    RemoveNodes,
    ResizePool,
    Stall,
    StopResize,
    Wait,
)
from azbatch_operator.reconcile.resize import PoolObservation
from azbatch_operator.settings import Settings

#: status.nodeCounts keys, per kind (DESIGN.md), in this order.
STATES = (
    "idle",
    "running",
    "starting",
    "waitingForStartTask",
    "startTaskFailed",
    "unusable",
    "preempted",
    "leavingPool",
    "rebooting",
    "reimaging",
    "offline",
    "creating",
    "unknown",
    "total",
)
START_TASK_FAILED = "startTaskFailed"
UNUSABLE = "unusable"
#: How many node ids one recovery pass removes (Batch's per-request limit).
REMOVE_BATCH = 100
MESSAGE_DETAIL = 200


@dataclass(frozen=True)
class Thresholds:
    start_task_failed: int = 1
    unusable: int = 1
    unusable_fraction: float = 0.05

    @classmethod
    def from_settings(cls, settings: Settings) -> Thresholds:
        return cls(
            settings.start_task_failed_nodes, settings.unusable_nodes, settings.unusable_nodes_fraction
        )

    def unusable_limit(self, total: int) -> int:
        return max(self.unusable, math.ceil(self.unusable_fraction * total))


def _kind(wire: Mapping[str, Any] | None) -> dict[str, int]:
    wire = wire or {}
    return {state: int(wire.get(state) or 0) for state in STATES}


@dataclass(frozen=True)
class NodeCounts:
    dedicated: Mapping[str, int]
    low_priority: Mapping[str, int]

    @classmethod
    def from_wire(cls, wire: Mapping[str, Any] | None) -> NodeCounts:
        wire = wire or {}
        return cls(_kind(wire.get("dedicated")), _kind(wire.get("lowPriority")))

    def of(self, state: str) -> int:
        return int(self.dedicated.get(state, 0)) + int(self.low_priority.get(state, 0))

    @property
    def total(self) -> int:
        return self.of("total")

    @property
    def usable(self) -> int:
        """Nodes that can run tasks now."""
        return self.of("idle") + self.of("running")

    def to_status(self) -> dict[str, dict[str, int]]:
        return {"dedicated": dict(self.dedicated), "lowPriority": dict(self.low_priority)}


@dataclass(frozen=True)
class NodeSample:
    """One node from ComputeNode_List, reduced to what a message or a removal needs."""

    node_id: str
    state: str
    code: str = ""
    message: str = ""
    exit_code: int | None = None

    @classmethod
    def from_wire(cls, node: Mapping[str, Any]) -> NodeSample:
        state = str(node.get("state") or "")
        info = node.get("startTaskInfo") or {}
        failure = info.get("failureInfo") or {}
        errors = node.get("errors") or []
        first = errors[0] if errors else {}
        exit_code = info.get("exitCode")
        return cls(
            node_id=str(node.get("id") or ""),
            state=state,
            code=str(failure.get("code") or first.get("code") or ""),
            message=str(failure.get("message") or first.get("message") or ""),
            exit_code=int(exit_code) if exit_code is not None else None,
        )

    @property
    def normalized_state(self) -> str:
        low = self.state.lower()
        return {"starttaskfailed": START_TASK_FAILED, "unusable": UNUSABLE}.get(low, low)

    def describe(self) -> str:
        detail = self.message[:MESSAGE_DETAIL] + ("..." if len(self.message) > MESSAGE_DETAIL else "")
        error = f"{self.code}: {detail}" if self.code else detail
        if self.exit_code is not None:
            return f"node {self.node_id}: start task exit code {self.exit_code}" + (
                f" ({error})" if error else ""
            )
        return f"node {self.node_id}: {error or 'no error reported'}"


def states_to_sample(counts: NodeCounts, thresholds: Thresholds) -> tuple[str, ...]:
    """The unhealthy states at or over their threshold: list those nodes for a message (one call)."""
    out = []
    if counts.of(START_TASK_FAILED) >= thresholds.start_task_failed:
        out.append(START_TASK_FAILED)
    if counts.of(UNUSABLE) >= thresholds.unusable_limit(counts.total):
        out.append(UNUSABLE)
    return tuple(out)


@dataclass(frozen=True)
class Verdict:
    reason: Reason | None = None
    message: str = ""
    #: status.nodeHealth: ``{reason, since}`` while unhealthy; None clears it.
    status: Mapping[str, str] | None = None
    #: Recovery: node ids to remove now (unusable nodes seen for longer than removeUnusableAfter).
    remove: tuple[str, ...] = ()
    #: Recovery is on for this reason: the condition says "progressing", not "stalled".
    recovering: bool = False
    #: Seconds until recovery is due (to come back then), when it is on but not yet due.
    recovery_in: float | None = None

    @property
    def healthy(self) -> bool:
        return self.reason is None


HEALTHY = Verdict()


def assess(
    counts: NodeCounts,
    samples: Sequence[NodeSample],
    thresholds: Thresholds,
    remove_after: timedelta | None,
    previous: Mapping[str, Any] | None,
    now: datetime,
) -> Verdict:
    """Decide the pool's node health from its counts and a sample of its unhealthy nodes."""
    total = counts.total
    failed, unusable = counts.of(START_TASK_FAILED), counts.of(UNUSABLE)
    if failed >= thresholds.start_task_failed:
        reason, state, limit = Reason.START_TASK_FAILED, START_TASK_FAILED, thresholds.start_task_failed
        what = f"{failed} of {total} nodes failed their start task"
        advice = (
            "The operator adds no nodes until this is fixed: correct spec.startTask, then reboot or "
            "remove the failed nodes"
        )
    elif unusable >= thresholds.unusable_limit(total):
        reason, state, limit = Reason.NODES_UNUSABLE, UNUSABLE, thresholds.unusable_limit(total)
        what = f"{unusable} of {total} nodes are unusable"
        advice = (
            "The operator adds no nodes while they are: check the subnet's network security group "
            "(the node agent must reach Batch), the image and the node agent SKU"
        )
    else:
        return HEALTHY
    since = now
    if previous and previous.get("reason") == reason and previous.get("since"):
        try:
            since = min(parse_rfc3339(str(previous["since"])), now)
        except ValueError:
            since = now
    status = {"reason": str(reason), "since": rfc3339(since)}
    sample = next((s for s in samples if s.normalized_state == state), None)
    example = f"; e.g. {sample.describe()}" if sample else ""
    head = f"{what} (threshold {limit}){example}"
    if reason is Reason.NODES_UNUSABLE and remove_after is not None:
        due = since + remove_after
        if now >= due:
            ids = tuple(s.node_id for s in samples if s.normalized_state == UNUSABLE)[:REMOVE_BATCH]
            message = f"{head}. Removing {len(ids)} unusable nodes (spec.nodeRecovery) so Batch replaces them"
            return Verdict(reason, message, status, ids, recovering=True)
        left = (due - now).total_seconds()
        message = f"{head}. spec.nodeRecovery removes them {left:.0f} s from now if they stay unusable"
        return Verdict(reason, message, status, recovering=True, recovery_in=left)
    if reason is Reason.NODES_UNUSABLE:
        advice += ", or set spec.nodeRecovery.removeUnusableAfter to have them removed and replaced"
    return Verdict(reason, f"{head}. {advice}", status)


def forbidden_note(operation: str, code: str) -> str:
    """The warning for a data plane that refuses the operator (403): which role is missing."""
    return (
        f"node health is unavailable: the Batch data plane refused {operation} ({code}). Grant the "
        "operator's identity 'Azure Batch Data Contributor' on the Batch account (or a custom role "
        "with Microsoft.Batch/batchAccounts/pools/read and .../pools/write) and let it reach the "
        "account endpoint; management-plane reconciling goes on meanwhile"
    )


def reviewed(plan: Plan, pool: Mapping[str, Any] | None) -> bool:
    """Node health is looked at for the plan of a pool that exists and stays: not while it is
    created, adopted or deleted."""
    return (
        pool is not None
        and bool(plan.status.get("poolId"))
        and not isinstance(plan.action, (CreatePool, AdoptPool, DeletePool))
        and lro.state_of(pool) is not lro.State.DELETING
    )


def has_nodes(obs: PoolObservation) -> bool:
    """Whether the pool may have nodes to count: not when its allocation is steady at no current
    node of either kind (ARM counts every node in the pool, whatever its state), so a fleet of
    empty pools costs no data-plane read."""
    return obs.allocation_state != "Steady" or obs.current_dedicated + obs.current_low_priority > 0


def lags(obs: PoolObservation, entry: Mapping[str, Any] | None) -> bool:
    """Whether a pool's node-counts entry disagrees with the node count ARM shows for it: counts
    listed before the pool's last allocation change (or before it existed)."""
    counts = NodeCounts.from_wire(entry)
    return counts.total != obs.current_dedicated + obs.current_low_priority


def with_counts(plan: Plan, counts: NodeCounts) -> Plan:
    """``status.nodeCounts``, and ``usableNodes`` (idle and running nodes of the pool's targets)."""
    target = int(plan.status.get("targetDedicatedNodes") or 0) + int(
        plan.status.get("targetLowPriorityNodes") or 0
    )
    extra = {"nodeCounts": counts.to_status(), "usableNodes": f"{counts.usable}/{target}"}
    return replace(plan, status={**plan.status, **extra})


def unknown(
    plan: Plan,
    pool_id: str,
    obs: PoolObservation,
    autoscale: bool,
    gen: int,
    now: datetime,
    settings: Settings,
    note: str,
) -> Plan:
    """The data plane refused the operator: node health is unknown, Ready carries ``note``, and
    counts from before the refusal are removed rather than shown stale."""
    warned = apply(plan, HEALTHY, pool_id, obs, autoscale, gen, now, settings, note=note)
    return replace(warned, status={**warned.status, "nodeCounts": None, "usableNodes": None})


def _grows(target: tuple[int | None, int | None], current: tuple[int, int]) -> bool:
    return (target[0] or 0) > current[0] or (target[1] or 0) > current[1]


def apply(
    plan: Plan,
    verdict: Verdict,
    pool_id: str,
    obs: PoolObservation | None,
    autoscale: bool,
    gen: int,
    now: datetime,
    settings: Settings,
    deallocation: str = "Requeue",
    note: str | None = None,
    recorded_attempts: int = 0,
) -> Plan:
    """The plan, kept from adding nodes while the verdict is unhealthy (see the module docstring).

    ``note`` (a data plane that refused the operator) only extends a Ready message: node health
    is unknown then, and management-plane reconciling goes on.
    """
    status = {**plan.status, "nodeHealth": dict(verdict.status) if verdict.status else None}
    if verdict.healthy:
        conds = plan.conditions
        if note is not None:
            conds = tuple(
                conditions.Condition(**{**c, "message": f"{c['message']}; warning: {note}"})
                if c["type"] == conditions.READY and c["status"] == "True"
                else c
                for c in conds
            )
        return replace(plan, status=status, conditions=conds)
    if isinstance(plan.action, Stall) and plan.action.reason is not Reason.RESIZE_RETRIES_EXHAUSTED:
        # A more specific problem (quota, image, spec) already asks a human to act; retries that ran
        # out are better explained by the nodes.
        return replace(plan, status=status)
    assert verdict.reason is not None
    action = plan.action
    current = (obs.current_dedicated, obs.current_low_priority) if obs is not None else (0, 0)
    state = obs.allocation_state.lower() if obs is not None else "steady"
    fast = polling.fast(settings)
    after = plan.requeue_after if plan.requeue_after is not None else polling.slow(settings)
    if verdict.remove and state == "steady":
        action = RemoveNodes(pool_id, verdict.remove, deallocation)
        after = fast
    elif isinstance(action, ResizePool) and _grows(
        (action.target_dedicated_nodes, action.target_low_priority_nodes), current
    ):
        # Not sent, so not an attempt: retries resume where they were once the nodes are healthy.
        action = Wait(after, verdict.reason)
        status["resizeAttempts"] = recorded_attempts
    elif (
        obs is not None
        and not autoscale
        and state == "resizing"
        and _grows((obs.target_dedicated, obs.target_low_priority), current)
    ):
        action = StopResize(pool_id)
        after = fast
    elif isinstance(action, (Done, Stall)):
        action = Wait(after, verdict.reason)
    if verdict.recovery_in is not None:
        after = min(after, polling.until(verdict.recovery_in, settings))
    if verdict.recovering:
        conds = tuple(conditions.progressing(gen, now, verdict.reason, verdict.message))
    else:
        conds = tuple(conditions.stalled(gen, now, verdict.reason, verdict.message))
    others = tuple(
        c
        for c in plan.conditions
        if c["type"] not in (conditions.READY, conditions.RECONCILING, conditions.STALLED)
    )
    return replace(plan, action=action, conditions=(*conds, *others), status=status, requeue_after=after)
