"""The fixed-scale resize planner (seed S8): resize until the pool reaches its target.

Batch resizes are observed, not awaited: ``allocationState`` (Steady / Resizing / Stopping),
``currentDedicatedNodes`` / ``currentLowPriorityNodes``, and ``resizeOperationStatus.errors``.

Rules, for a pool whose fixed-scale target is the spec's target:

* Resizing toward the spec's target: wait (fast polling).  Resizing toward another target (the spec
  changed): StopResize first, then resize to the new target once Steady.
* Steady at target: Done (slow polling); ``resizeAttempts`` resets.
* Steady short of target after ``AllocationTimedOut``, ``ResizeStopped`` (or no error at all): resize
  again ``resizeRetry.backoffSeconds`` after the pool went Steady, counting ``status.resizeAttempts``,
  until ``maxAttempts`` (0 = unlimited) -> Stall ResizeRetriesExhausted.
* ``AllocationFailed``: ask the shell to check the image (``CheckImage``); gone -> Stall ImageNotFound
  (seed S9), present -> retry as above.
* ``AccountCoreQuotaReached`` / ``AccountLowPriorityCoreQuotaReached`` /
  ``AccountVMSeriesCoreQuotaReached`` / ``AccountSpotCoreQuotaReached``: Stall QuotaExceeded, but
  retry the resize every ``quota_recheck_seconds`` (not counted) so a raised quota heals it.
* A code the error classifier calls terminal (``IncompatibleVMSize``, ``UnsupportedVMSize``,
  ``OverconstrainedAllocationRequestError``): Stall with its reason; the same resize would fail again.

The planner never asks for more nodes than the spec's target, and checks the aggregate image limit
(seed S7) before any resize that grows the pool.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from azbatch_operator.api.batch_pool import FixedScale, ResizeRetry
from azbatch_operator.reconcile import conditions, errors, polling
from azbatch_operator.reconcile.conditions import Reason, parse_rfc3339, rfc3339
from azbatch_operator.reconcile.image_limits import ImageLimitVerdict
from azbatch_operator.reconcile.plan import CheckImage, Done, Plan, ResizePool, StopResize, Wait, stall_plan
from azbatch_operator.settings import Settings

QUOTA_CODES = frozenset(
    {
        "accountcorequotareached",
        "accountlowprioritycorequotareached",
        "accountvmseriescorequotareached",
        "accountspotcorequotareached",
    }
)
ALLOCATION_FAILED = "AllocationFailed"
RESIZE_STOPPED = "ResizeStopped"


@dataclass(frozen=True)
class PoolObservation:
    """The resize-relevant part of a Batch pool as ARM returns it."""

    allocation_state: str
    current_dedicated: int
    current_low_priority: int
    #: ``scaleSettings.fixedScale`` targets; None when the pool autoscales.
    target_dedicated: int | None
    target_low_priority: int | None
    allocation_state_transition_time: str | None = None
    errors: tuple[tuple[str, str], ...] = ()

    @classmethod
    def from_arm(cls, pool: Mapping[str, Any]) -> PoolObservation:
        props: Mapping[str, Any] = pool.get("properties") or {}
        fixed = (props.get("scaleSettings") or {}).get("fixedScale")
        resize_status = props.get("resizeOperationStatus") or {}
        errors = tuple(
            (str(e.get("code", "")), str(e.get("message", ""))) for e in resize_status.get("errors") or []
        )
        return cls(
            allocation_state=str(props.get("allocationState") or "Steady"),
            current_dedicated=int(props.get("currentDedicatedNodes") or 0),
            current_low_priority=int(props.get("currentLowPriorityNodes") or 0),
            target_dedicated=None if fixed is None else int(fixed.get("targetDedicatedNodes") or 0),
            target_low_priority=None if fixed is None else int(fixed.get("targetLowPriorityNodes") or 0),
            allocation_state_transition_time=props.get("allocationStateTransitionTime"),
            errors=errors,
        )


def resize_params(fixed: FixedScale) -> dict[str, Any]:
    """PATCH body for a pool: ``properties.scaleSettings.fixedScale``."""
    return {
        "properties": {
            "scaleSettings": {
                "fixedScale": {
                    "targetDedicatedNodes": fixed.target_dedicated_nodes,
                    "targetLowPriorityNodes": fixed.target_low_priority_nodes,
                    "resizeTimeout": fixed.resize_timeout,
                    "nodeDeallocationOption": fixed.node_deallocation_option,
                }
            }
        }
    }


def _nodes(ded: int, low: int) -> str:
    return f"{ded} dedicated + {low} low-priority"


def _was(target: tuple[int | None, int | None]) -> str:
    """The pool's own targets, or what it does without them (its autoscale formula sets them)."""
    if target[0] is None or target[1] is None:
        return "the targets of its autoscale formula"
    return _nodes(target[0], target[1])


def plan_resize(
    gen: int,
    pool_id: str,
    image_id: str | None,
    fixed: FixedScale,
    retry: ResizeRetry,
    status: Mapping[str, Any],
    obs: PoolObservation,
    limit: ImageLimitVerdict | None,
    image_exists: bool | None,
    now: datetime,
    settings: Settings,
) -> Plan:
    """The next step for a fixed-scale pool that exists (see the module docstring).

    ``status`` is the BatchPool's current status (camelCase dict); ``limit`` is the aggregate verdict
    for the spec's targets (None = not checked); ``image_exists`` answers a previous CheckImage.
    """
    desired = (fixed.target_dedicated_nodes, fixed.target_low_priority_nodes)
    pool_target = (obs.target_dedicated, obs.target_low_priority)
    current = (obs.current_dedicated, obs.current_low_priority)
    attempts = int(status.get("resizeAttempts") or 0)
    limit_text = "unlimited" if retry.max_attempts == 0 else str(retry.max_attempts)
    progress = f"{_nodes(*current)} of {_nodes(*desired)} nodes"
    base: dict[str, Any] = {"observedGeneration": gen, "resizeAttempts": attempts}

    def progressing(action: Any, reason: Reason, message: str, after: float, **extra: Any) -> Plan:
        cond = conditions.progressing(gen, now, reason, message)
        return Plan(action, tuple(cond), {**base, **extra}, after)

    def resize(reason: Reason, message: str, new_attempts: int, **extra: Any) -> Plan:
        action = ResizePool(
            pool_id,
            desired[0],
            desired[1],
            fixed.resize_timeout,
            resize_params(fixed),
            retry=pool_target == desired,
            node_deallocation_option=fixed.node_deallocation_option,
        )
        return progressing(
            action, reason, message, polling.fast(settings), resizeAttempts=new_attempts, **extra
        )

    state = obs.allocation_state.lower()
    if state == "stopping":
        wait = Wait(polling.fast(settings), Reason.STOPPING_RESIZE)
        return progressing(
            wait, Reason.STOPPING_RESIZE, f"stopping the current resize; {progress}", wait.seconds
        )
    if state == "resizing":
        if pool_target != desired:
            return progressing(
                StopResize(pool_id),
                Reason.STOPPING_RESIZE,
                f"target changed to {_nodes(*desired)} while resizing to {_was(pool_target)}: "
                "stopping the current resize first",
                polling.fast(settings),
            )
        wait = Wait(polling.fast(settings), Reason.RESIZING)
        attempt = f" (attempt {attempts}/{limit_text})" if attempts > 1 else ""
        return progressing(wait, Reason.RESIZING, f"resizing: {progress}{attempt}", wait.seconds)

    # Steady.
    if current == desired and pool_target == desired:
        cond = conditions.ready(gen, now, Reason.SUCCEEDED, f"pool is steady at {_nodes(*desired)} nodes")
        return Plan(Done(), tuple(cond), {**base, "resizeAttempts": 0}, polling.slow(settings))

    if pool_target != desired:
        grows = desired[0] > (pool_target[0] or 0) or desired[1] > (pool_target[1] or 0)
        if grows and limit is not None and not limit.fits:
            return stall_plan(
                gen, now, Reason.IMAGE_NODE_LIMIT_EXCEEDED, limit.message, base, polling.slow(settings)
            )
        return resize(Reason.RESIZING, f"resizing to {_nodes(*desired)} nodes (now {_nodes(*current)})", 1)

    # Steady short of (or beyond) the target it was asked for: the last resize did not finish.
    code, message = obs.errors[0] if obs.errors else (RESIZE_STOPPED, "the resize stopped before the target")
    error_time = _error_time(obs, status, code, now)
    error: dict[str, Any] = {"code": code, "message": message, "time": rfc3339(error_time)}
    if obs.allocation_state_transition_time:
        error["azureTime"] = obs.allocation_state_transition_time
    base["lastResizeError"] = error
    since = (now - error_time).total_seconds()
    what = f"{progress}; last resize ended with {code}: {message}"

    if code.lower() in QUOTA_CODES:
        left = settings.quota_recheck_seconds - since
        if left > 0:
            kind = {
                "accountlowprioritycorequotareached": "low-priority",
                "accountspotcorequotareached": "Spot",
                "accountvmseriescorequotareached": "VM-series (per VM family) dedicated",
            }.get(code.lower(), "dedicated")
            return stall_plan(
                gen,
                now,
                Reason.QUOTA_EXCEEDED,
                f"{what}. Raise the Batch account's {kind} core quota (or lower the target); the "
                f"operator retries the resize every {settings.quota_recheck_seconds:.0f} s",
                base,
                polling.until(left, settings),
            )
        return resize(Reason.RESIZE_RETRY, f"{what}; retrying after the quota re-check", attempts)

    if code == ALLOCATION_FAILED and image_id is not None:
        if image_exists is None:
            return progressing(
                CheckImage(image_id),
                Reason.RESIZE_RETRY,
                f"{what}; checking whether image {image_id} still exists",
                polling.fast(settings),
            )
        if image_exists is False:
            return stall_plan(
                gen,
                now,
                Reason.IMAGE_NOT_FOUND,
                f"{what}. The image {image_id} no longer exists: Azure Batch needs a pool's custom image "
                "(and what it was built from) for the pool's whole life, so resizes fail with "
                "AllocationFailed. Recreate the image, or recreate the pool on a new image",
                base,
                polling.slow(settings),
            )

    verdict = errors.classify(None, code, message)
    if verdict.category is errors.Category.TERMINAL:
        # IncompatibleVMSize, UnsupportedVMSize, OverconstrainedAllocationRequestError: resizing
        # again with the same pool configuration fails the same way.
        return stall_plan(
            gen,
            now,
            verdict.reason,
            f"{what}. Resizing again cannot help: change spec.vmSize (or the pool configuration "
            "that conflicts with it) or the region",
            base,
            polling.slow(settings),
        )

    if retry.max_attempts and attempts >= retry.max_attempts:
        return stall_plan(
            gen,
            now,
            Reason.RESIZE_RETRIES_EXHAUSTED,
            f"{what}. Gave up after {attempts} resize attempts "
            f"(resizeRetry.maxAttempts={retry.max_attempts}); "
            "raise maxAttempts or change the target to try again",
            base,
            polling.slow(settings),
        )
    left = retry.backoff_seconds - since
    if left > 0:
        wait = Wait(polling.until(left, settings), Reason.RESIZE_RETRY)
        return progressing(wait, Reason.RESIZE_RETRY, f"{what}; resizing again in {left:.0f} s", wait.seconds)
    return resize(
        Reason.RESIZE_RETRY,
        f"{what}; resizing again (attempt {attempts + 1}/{limit_text})",
        attempts + 1,
    )


def _error_time(obs: PoolObservation, status: Mapping[str, Any], code: str, now: datetime) -> datetime:
    """When the failed resize ended, on the operator's clock.

    The same failed resize (same code and the same ``allocationStateTransitionTime``, Azure's stable
    marker of it) keeps the time first recorded in ``status.lastResizeError``.  A newly observed one
    uses Azure's transition time, but never later than ``now``: Azure's clock and ours may differ
    (skew, or a time-compressed simulator), and a future end time would postpone the retry forever.
    """
    recorded = status.get("lastResizeError") or {}
    same_resize = (
        recorded.get("code") == code and recorded.get("azureTime") == obs.allocation_state_transition_time
    )
    if same_resize and recorded.get("time"):
        try:
            return parse_rfc3339(str(recorded["time"]))
        except ValueError:
            pass
    if obs.allocation_state_transition_time:
        try:
            return min(parse_rfc3339(obs.allocation_state_transition_time), now)
        except ValueError:
            pass
    return now
