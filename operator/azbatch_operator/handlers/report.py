"""Turning a plan (or a failed Azure call) into status, conditions and events.

Status is written only when something in it changed, so a steady object costs no Kubernetes
writes; events are posted only on transitions a user cares about (Ready/Stalled reason changes).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Mapping
from datetime import datetime
from typing import Any

import kopf

from azbatch_operator import metrics
from azbatch_operator.api.status import status_patch
from azbatch_operator.azure.calls import AzureCallError
from azbatch_operator.handlers import guard
from azbatch_operator.handlers.runtime import Runtime
from azbatch_operator.kube import StatusRejected
from azbatch_operator.reconcile import conditions, failures
from azbatch_operator.reconcile.conditions import Condition
from azbatch_operator.reconcile.plan import Plan

logger = logging.getLogger(__name__)


def _changed(old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    return any(old.get(key) != value for key, value in new.items())


def _headline(conds: list[Condition]) -> tuple[str, str, str] | None:
    """(type, reason, message) of the condition that best describes the object right now."""
    for type_ in (conditions.STALLED, conditions.READY, conditions.RECONCILING):
        cond = conditions.find(conds, type_)
        if cond and cond["status"] == "True":
            return type_, cond["reason"], cond["message"]
    ready = conditions.find(conds, conditions.READY)
    return (conditions.READY, ready["reason"], ready["message"]) if ready else None


async def publish(
    rt: Runtime,
    plural: str,
    body: kopf.Body,
    memo: Any,
    new_conditions: tuple[Condition, ...] | list[Condition],
    status: Mapping[str, Any],
    warnings: tuple[str, ...] = (),
) -> dict[str, Any]:
    """Patch status (if changed) and post events for transitions; returns the status written:
    ``status`` with the merged conditions, as the kind's status model sends them.

    "Changed" and "transition" are judged against this process's last write over the body
    (``guard.status_of``): kopf's body lags behind its watch while many objects change, and judged
    against it a pass would patch the same status again and post its event twice."""
    old_status: Mapping[str, Any] = guard.status_of(memo, body)
    old_conditions: list[Condition] = list(old_status.get("conditions") or [])
    merged = conditions.merge(old_conditions, list(new_conditions))
    written = status_patch(plural, {**status, "conditions": merged})
    meta = body["metadata"]
    if _changed(old_status, written):
        try:
            await rt.status.patch_status(plural, meta["namespace"], meta["name"], written)
        except StatusRejected as exc:
            _report_rejection(rt.rejections, body, exc)
            raise
        guard.remember(memo, body, written)
    before, after = _headline(old_conditions), _headline(merged)
    metrics.RECONCILES.labels(plural, after[1] if after else "Unknown").inc()
    metrics.set_conditions(plural, meta["namespace"], meta["name"], merged)
    if plural == "batchpools":
        metrics.set_pool(meta["namespace"], meta["name"], {**old_status, **written})
    if after is not None and (before is None or before[:2] != after[:2]):
        type_, reason, message = after
        kind = "Warning" if type_ == conditions.STALLED else "Normal"
        kopf.event(body, type=kind, reason=reason, message=message)
        if warnings and not conditions.holds(old_conditions, conditions.IMAGE_SHARED):
            for warning in warnings:
                kopf.warn(body, reason=conditions.Reason.IMAGE_SHARED, message=warning)
    return written


#: The same rejection of one object is reported as an event at most this often (the pass retries).
REJECTION_EVENT_SECONDS = 300.0


def _report_rejection(reported: dict[tuple[str, str], float], body: kopf.Body, exc: StatusRejected) -> None:
    """A status the apiserver refuses is never swallowed: logged with its reason, and an event
    (``reported``: when each rejection was last posted, the runtime's)."""
    meta = body["metadata"]
    logger.warning(
        "status patch of %s/%s rejected by the apiserver: %s %s: %s",
        meta["namespace"],
        meta["name"],
        exc.code,
        exc.reason,
        exc.detail,
    )
    key = (str(meta.get("uid", "")), exc.reason)
    now = time.monotonic()
    if now - reported.get(key, -REJECTION_EVENT_SECONDS) >= REJECTION_EVENT_SECONDS:
        if len(reported) > 10_000:
            reported.clear()
        reported[key] = now
        message = f"the apiserver rejected the status update ({exc.code} {exc.reason}): {exc.detail}"
        kopf.event(body, type="Warning", reason="StatusUpdateRejected", message=message[:1024])


def error_plan(
    rt: Runtime, exc: BaseException, generation: int, now: datetime, attempt: int, action: str
) -> tuple[list[Condition], float]:
    """Conditions and a retry delay for a failure the planners never saw (reconcile/failures.py)."""
    if isinstance(exc, AzureCallError):
        return failures.azure_failure(
            exc.classification, exc.operation, generation, now, attempt, rt.settings, rt.rng
        )
    logger.error("%s failed unexpectedly", action, exc_info=exc)  # the traceback, for the log only
    return failures.own_failure(action, exc, generation, now, attempt, rt.settings, rt.rng)


def with_generation(plan: Plan, generation: int) -> dict[str, Any]:
    return {**plan.status, "observedGeneration": generation}


async def record_operations(rt: Runtime, plural: str, body: kopf.Body, memo: Any, plan: Plan) -> None:
    """Publish the plan, whose ``status.operations`` names the Azure write about to be sent, before
    sending it: a finalizer (this replica's, or after a crash the next leader's) then waits for it
    instead of releasing the object over a resource still to come.  The pass publishes the same
    plan after the write, which then changes nothing: one status write per create, not two."""
    generation = int(body["metadata"].get("generation") or 1)
    await publish(rt, plural, body, memo, plan.conditions, with_generation(plan, generation), plan.warnings)


async def sent_or_forgotten(
    rt: Runtime, plural: str, body: kopf.Body, memo: Any, call: Awaitable[Any]
) -> None:
    """Await a recorded create; when Azure's answer proves nothing was created (a terminal
    refusal, a throttle), forget the record again so neither deletion nor the next attempt waits
    for it."""
    try:
        await call
    except AzureCallError as exc:
        if exc.classification.nothing_done:
            await publish(rt, plural, body, memo, [], {"operations": []})
        raise
