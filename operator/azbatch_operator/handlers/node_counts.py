"""Node health for BatchPools: one node-counts listing per Batch account, shared by all its pools.

Every pool's reconcile asks :class:`NodeCountsBatcher` for its account's counts; concurrent asks
wait for one ``Account_ListPoolNodeCounts`` and a listing younger than
``AZBATCH_NODE_COUNTS_MAX_AGE_SECONDS`` is reused, so the data-plane cost grows with accounts, not
pools.  A refusal (403) is remembered as long as a listing would be and turned into a warning on
the pool's Ready message: the management-plane loop never depends on the data plane.

``review`` adds node counts and the node-health verdict (``reconcile/node_health.py``) to a plan;
``perform`` sends the data-plane actions (a retry resize, a recovery removeNodes).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from azbatch_operator import metrics
from azbatch_operator.api.batch_pool import BatchPoolSpec
from azbatch_operator.api.durations import parse_duration
from azbatch_operator.azure.calls import AzureCallError
from azbatch_operator.azure.dataplane import DataPlane
from azbatch_operator.reconcile import arm_ids, names, node_health
from azbatch_operator.reconcile.errors import Category
from azbatch_operator.reconcile.plan import Plan, RemoveNodes, ResizePool
from azbatch_operator.reconcile.resize import PoolObservation

if TYPE_CHECKING:
    from azbatch_operator.handlers.runtime import Runtime

Json = dict[str, Any]
#: Same key and lifetime as the BatchPool handler's account read, so both share one GET.
ACCOUNT_CACHE_SECONDS = 600.0


@dataclass(frozen=True)
class Snapshot:
    """One account's last listing: counts by lower-case pool id, or why there are none."""

    fetched: float
    counts: dict[str, Json] | None = None
    #: A 403: the warning to show (which role is missing).
    forbidden: str | None = None


class NodeCountsBatcher:
    def __init__(
        self, data_plane: DataPlane, max_age_seconds: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.data_plane = data_plane
        self.max_age = max_age_seconds
        self.clock = clock
        self._snapshots: dict[str, Snapshot] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def get(self, endpoint: str, since: float | None = None) -> Snapshot:
        """The account's counts from a listing younger than the max age, or (``since``) one that
        started at that clock time or later."""
        key = endpoint.lower()
        # Age is counted from the ask: a listing that started while this caller waited serves it,
        # however long its pages took (else each waiter would list the account again in turn).
        asked = self.clock()
        async with self._locks.setdefault(key, asyncio.Lock()):
            hit = self._snapshots.get(key)
            if hit is not None and asked - hit.fetched < self.max_age and hit.fetched >= (since or 0.0):
                return hit
            started = self.clock()
            try:
                snap = Snapshot(started, counts=await self.data_plane.pool_node_counts(endpoint))
            except AzureCallError as exc:
                if exc.classification.category is not Category.FORBIDDEN:
                    # Transient or unexpected: keep what the pools last wrote; ask again next time.
                    self._snapshots.pop(key, None)
                    return Snapshot(started)
                note = node_health.forbidden_note("Account_ListPoolNodeCounts", exc.classification.code)
                snap = Snapshot(started, forbidden=note)
            self._snapshots[key] = snap
            return snap

    def forbid(self, endpoint: str, note: str) -> None:
        self._snapshots[endpoint.lower()] = Snapshot(self.clock(), forbidden=note)

    def invalidate(self, endpoint: str) -> None:
        self._snapshots.pop(endpoint.lower(), None)


async def account_endpoint(rt: Runtime, account_id: str) -> str | None:
    found = await rt.lookups.get(
        f"account:{account_id}", ACCOUNT_CACHE_SECONDS, lambda: rt.resources.get(account_id)
    )
    endpoint = ((found or {}).get("properties") or {}).get("accountEndpoint")
    return str(endpoint) if endpoint else None


async def review(
    rt: Runtime,
    plan: Plan,
    meta: names.ObjectMeta,
    spec: BatchPoolSpec,
    status: dict[str, Any],
    pool: Json | None,
    now: datetime,
) -> Plan:
    """Add status.nodeCounts and the node-health verdict to the plan of an existing pool."""
    batcher = rt.node_counts
    if batcher is None or pool is None or not node_health.reviewed(plan, pool):
        return plan
    pool_id = str(plan.status["poolId"])
    obs = PoolObservation.from_arm(pool)
    autoscale = spec.scale.auto is not None
    dealloc = spec.scale.fixed.node_deallocation_option if spec.scale.fixed else "Requeue"
    settings = rt.settings
    pool_name = arm_ids.parse(pool_id).names[-1]
    counts = node_health.NodeCounts.from_wire(None)
    endpoint = None
    if node_health.has_nodes(obs):
        endpoint = await account_endpoint(rt, spec.account_id)
        if endpoint is None:
            return plan
        began = batcher.clock()
        snap = await batcher.get(endpoint)
        entry = (snap.counts or {}).get(pool_name.lower())
        if snap.counts is not None and snap.fetched < began and node_health.lags(obs, entry):
            # Counts from before the pool's last allocation change (ARM shows nodes they do not):
            # a Ready pool would show 0 usable nodes until the next listing. One newer listing,
            # shared with every pool that asks meanwhile.
            snap = await batcher.get(endpoint, since=began)
        if snap.forbidden is not None:
            return node_health.unknown(
                plan, pool_id, obs, autoscale, meta.generation, now, settings, snap.forbidden
            )
        if snap.counts is None:
            return plan
        counts = node_health.NodeCounts.from_wire(snap.counts.get(pool_name.lower()))
    thresholds = node_health.Thresholds.from_settings(settings)
    samples: list[node_health.NodeSample] = []
    states = node_health.states_to_sample(counts, thresholds)
    if states and endpoint is not None:
        try:
            nodes = await batcher.data_plane.list_nodes(endpoint, pool_name, states, node_health.REMOVE_BATCH)
            samples = [node_health.NodeSample.from_wire(n) for n in nodes]
        except AzureCallError:
            samples = []  # The counts alone still decide; the message just lacks an example.
    remove_after = spec.node_recovery.remove_unusable_after_delta if spec.node_recovery else None
    verdict = node_health.assess(counts, samples, thresholds, remove_after, status.get("nodeHealth"), now)
    planned = node_health.apply(
        plan, verdict, pool_id, obs, autoscale, meta.generation, now, settings, dealloc
    )
    metrics.set_node_states(meta.namespace, meta.name, counts.to_status())
    return node_health.with_counts(planned, counts)


async def perform(rt: Runtime, plan: Plan) -> bool:
    """Send a data-plane action; False when the caller should use the management plane instead."""
    batcher = rt.node_counts
    match plan.action:
        case RemoveNodes(resource_id=rid, node_ids=ids, node_deallocation_option=dealloc):
            if batcher is None or not ids:
                return True
            endpoint = await account_endpoint(rt, str(arm_ids.parse(rid).parent))
            if endpoint is None:
                return True
            await batcher.data_plane.remove_nodes(endpoint, arm_ids.parse(rid).names[-1], ids, dealloc)
            batcher.invalidate(endpoint)
            return True
        case ResizePool(retry=True) as action if batcher is not None:
            pool_rid = arm_ids.parse(action.resource_id)
            endpoint = await account_endpoint(rt, str(pool_rid.parent))
            if endpoint is None or (await batcher.get(endpoint)).forbidden is not None:
                return False
            try:
                await batcher.data_plane.resize(
                    endpoint,
                    pool_rid.names[-1],
                    action.target_dedicated_nodes,
                    action.target_low_priority_nodes,
                    parse_duration(action.resize_timeout),
                    action.node_deallocation_option,
                )
            except AzureCallError as exc:
                if exc.classification.category is not Category.FORBIDDEN:
                    raise
                batcher.forbid(endpoint, node_health.forbidden_note("Pool_Resize", exc.classification.code))
                return False
            return True
        case _:
            return False
