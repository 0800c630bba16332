from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from azbatch_operator.api.batch_pool import FixedScale, ResizeRetry
from azbatch_operator.reconcile.conditions import Reason, rfc3339
from azbatch_operator.reconcile.plan import CheckImage, Done, Plan, ResizePool, Stall, StopResize, Wait
from azbatch_operator.reconcile.resize import PoolObservation, plan_resize
from azbatch_operator.settings import Settings
from tests.unit.builders import NOW, limit_verdict, written

pytestmark = pytest.mark.unit

S = Settings(poll_fast_seconds=15, poll_slow_seconds=600, quota_recheck_seconds=300)
POOL = "/subscriptions/s/resourceGroups/g/providers/Microsoft.Batch/batchAccounts/a/pools/p"
IMAGE = "/subscriptions/s/resourceGroups/g/providers/Microsoft.Compute/images/i"
FIXED = FixedScale(target_dedicated_nodes=800)
RETRY = ResizeRetry(max_attempts=3, backoff_seconds=60)


def obs(
    state: str = "Steady",
    current: tuple[int, int] = (0, 0),
    target: tuple[int, int] | None = (800, 0),
    code: str | None = None,
    since: datetime = NOW - timedelta(seconds=120),
) -> PoolObservation:
    return PoolObservation(
        allocation_state=state,
        current_dedicated=current[0],
        current_low_priority=current[1],
        target_dedicated=None if target is None else target[0],
        target_low_priority=None if target is None else target[1],
        allocation_state_transition_time=rfc3339(since),
        errors=((code, f"{code} happened"),) if code else (),
    )


def run(
    o: PoolObservation,
    attempts: int = 1,
    now: datetime = NOW,
    image_exists: bool | None = None,
    fixed: FixedScale = FIXED,
    retry: ResizeRetry = RETRY,
    limit: Any = None,
) -> Plan:
    return written(
        "batchpools",
        plan_resize(
            1, POOL, IMAGE, fixed, retry, {"resizeAttempts": attempts}, o, limit, image_exists, now, S
        ),
    )


def test_steady_at_target_is_done_and_slow() -> None:
    p = run(obs(current=(800, 0)), attempts=2)
    assert isinstance(p.action, Done)
    assert p.status["resizeAttempts"] == 0
    assert p.requeue_after == S.poll_slow_seconds


def test_resizing_toward_target_waits_fast() -> None:
    p = run(obs("Resizing", current=(100, 0)))
    assert isinstance(p.action, Wait)
    assert p.requeue_after == S.poll_fast_seconds
    assert "100 dedicated" in next(c for c in p.conditions if c["type"] == "Reconciling")["message"]


def test_target_change_while_resizing_stops_first_then_resizes() -> None:
    p = run(obs("Resizing", current=(100, 0), target=(500, 0)))
    assert isinstance(p.action, StopResize)
    p = run(obs("Stopping", current=(100, 0), target=(500, 0)))
    assert isinstance(p.action, Wait)
    p = run(obs("Steady", current=(120, 0), target=(500, 0)), attempts=2)
    assert isinstance(p.action, ResizePool)
    assert (p.action.target_dedicated_nodes, p.status["resizeAttempts"]) == (800, 1)
    assert p.action.params["properties"]["scaleSettings"]["fixedScale"]["resizeTimeout"] == "PT25M"


def test_timed_out_resize_retries_after_backoff() -> None:
    early = run(obs(current=(400, 0), code="AllocationTimedOut", since=NOW - timedelta(seconds=20)))
    assert isinstance(early.action, Wait)
    assert early.action.seconds == pytest.approx(40)
    assert early.action.reason is Reason.RESIZE_RETRY
    assert early.status["lastResizeError"]["code"] == "AllocationTimedOut"
    p = run(obs(current=(400, 0), code="AllocationTimedOut"))
    assert isinstance(p.action, ResizePool)
    assert p.status["resizeAttempts"] == 2


def test_unrequested_stop_counts_as_resize_stopped() -> None:
    p = run(obs(current=(400, 0)), attempts=1)
    assert isinstance(p.action, ResizePool)
    assert p.status["lastResizeError"]["code"] == "ResizeStopped"


def test_retries_exhausted() -> None:
    p = run(obs(current=(400, 0), code="AllocationTimedOut"), attempts=3)
    assert isinstance(p.action, Stall)
    assert p.action.reason is Reason.RESIZE_RETRIES_EXHAUSTED
    assert "400 dedicated" in p.action.message
    unlimited = run(
        obs(current=(400, 0), code="AllocationTimedOut"), attempts=99, retry=ResizeRetry(max_attempts=0)
    )
    assert isinstance(unlimited.action, ResizePool)


def test_allocation_failed_checks_image() -> None:
    p = run(obs(current=(400, 0), code="AllocationFailed"))
    assert isinstance(p.action, CheckImage)
    assert p.action.image_id == IMAGE
    gone = run(obs(current=(400, 0), code="AllocationFailed"), image_exists=False)
    assert isinstance(gone.action, Stall)
    assert gone.action.reason is Reason.IMAGE_NOT_FOUND
    assert "whole life" in gone.action.message
    present = run(obs(current=(400, 0), code="AllocationFailed"), image_exists=True)
    assert isinstance(present.action, ResizePool)


@pytest.mark.parametrize(
    "code",
    [
        "AccountCoreQuotaReached",
        "AccountLowPriorityCoreQuotaReached",
        "AccountVMSeriesCoreQuotaReached",
        "AccountSpotCoreQuotaReached",
    ],
)
def test_quota_stalls_then_rechecks_without_counting(code: str) -> None:
    p = run(obs(current=(400, 0), code=code, since=NOW - timedelta(seconds=100)), attempts=3)
    assert isinstance(p.action, Stall)
    assert p.action.reason is Reason.QUOTA_EXCEEDED
    assert p.requeue_after == pytest.approx(200)
    assert "core quota" in p.action.message
    later = run(obs(current=(400, 0), code=code, since=NOW - timedelta(seconds=301)), attempts=3)
    assert isinstance(later.action, ResizePool)
    assert later.status["resizeAttempts"] == 3


def test_limit_refuses_growth_but_not_shrink() -> None:
    over = limit_verdict("ns/p", (800, 0), 500, 1000)
    p = run(obs(current=(100, 0), target=(100, 0)), limit=over)
    assert isinstance(p.action, Stall)
    assert p.action.reason is Reason.IMAGE_NODE_LIMIT_EXCEEDED
    shrink = run(obs(current=(900, 0), target=(900, 0)), limit=over)
    assert isinstance(shrink.action, ResizePool)


def test_simulated_pool_reaches_target_after_retries() -> None:
    """A fake pool that gains 300 nodes per resize and then times out: the planner keeps resizing."""
    retry = ResizeRetry(max_attempts=10, backoff_seconds=60)
    now, current, target, state, status = NOW, 0, (0, 0), "Steady", {"resizeAttempts": 0}
    since = now
    resizes = 0
    for _ in range(200):
        o = obs(
            state,
            (current, 0),
            target,
            "AllocationTimedOut" if state == "Steady" and current else None,
            since,
        )
        p = plan_resize(1, POOL, IMAGE, FIXED, retry, status, o, None, None, now, S)
        status = {**status, **p.status}
        if isinstance(p.action, Done):
            break
        if isinstance(p.action, ResizePool):
            resizes += 1
            target, state = (p.action.target_dedicated_nodes, 0), "Resizing"
        elif state == "Resizing":
            current, state, since = min(800, current + 300), "Steady", now
        now += timedelta(seconds=p.requeue_after or 15)
    assert isinstance(p.action, Done)
    assert current == 800
    assert resizes == 3


# --- properties ------------------------------------------------------------------------------------
counts = st.integers(0, 3000)
observations = st.builds(
    PoolObservation,
    allocation_state=st.sampled_from(["Steady", "Resizing", "Stopping"]),
    current_dedicated=counts,
    current_low_priority=st.integers(0, 1000),
    target_dedicated=st.one_of(st.none(), counts),
    target_low_priority=st.one_of(st.none(), st.integers(0, 1000)),
    allocation_state_transition_time=st.sampled_from(
        [None, rfc3339(NOW - timedelta(seconds=30)), rfc3339(NOW - timedelta(hours=1))]
    ),
    errors=st.lists(
        st.tuples(
            st.sampled_from(
                [
                    "AllocationTimedOut",
                    "AllocationFailed",
                    "AccountCoreQuotaReached",
                    "ResizeStopped",
                    "Other",
                ]
            ),
            st.just("m"),
        ),
        max_size=1,
    ).map(tuple),
)


@settings(max_examples=300)
@given(
    o=observations,
    ded=counts,
    low=st.integers(0, 1000),
    attempts=st.integers(0, 12),
    max_attempts=st.integers(0, 10),
    image_exists=st.sampled_from([None, True, False]),
)
def test_planner_invariants(
    o: PoolObservation, ded: int, low: int, attempts: int, max_attempts: int, image_exists: bool | None
) -> None:
    fixed = FixedScale(target_dedicated_nodes=ded, target_low_priority_nodes=low)
    retry = ResizeRetry(max_attempts=max_attempts, backoff_seconds=60)
    p = plan_resize(1, POOL, IMAGE, fixed, retry, {"resizeAttempts": attempts}, o, None, image_exists, NOW, S)
    assert isinstance(p.action, Done | Stall | Wait | ResizePool | StopResize | CheckImage)
    if isinstance(p.action, ResizePool):
        # never above (or below) the spec's target, never past the attempt budget
        assert (p.action.target_dedicated_nodes, p.action.target_low_priority_nodes) == (ded, low)
        if max_attempts and attempts < max_attempts:
            assert p.status["resizeAttempts"] <= max_attempts
        assert o.allocation_state == "Steady"
    if o.allocation_state == "Resizing" and (o.target_dedicated, o.target_low_priority) != (ded, low):
        assert isinstance(p.action, StopResize)
    if isinstance(p.action, StopResize):
        assert o.allocation_state == "Resizing"
    is_done = o.allocation_state == "Steady" and (o.current_dedicated, o.current_low_priority) == (
        ded,
        low,
    ) == (o.target_dedicated, o.target_low_priority)
    assert isinstance(p.action, Done) == is_done
    if isinstance(p.action, CheckImage):
        assert image_exists is None
    assert p.requeue_after is None or p.requeue_after > 0
    states = {c["type"]: c["status"] for c in p.conditions}
    assert list(states.values()).count("True") == 1


@settings(max_examples=100)
@given(max_attempts=st.integers(1, 8), backoff=st.integers(0, 300))
def test_retry_budget_is_never_exceeded(max_attempts: int, backoff: int) -> None:
    """A pool that never grows: the planner issues exactly max_attempts resizes, then stalls."""
    retry = ResizeRetry(max_attempts=max_attempts, backoff_seconds=backoff)
    now, status, state, target, since = NOW, {"resizeAttempts": 0}, "Steady", (0, 0), NOW
    resizes = 0
    for _ in range(10 * max_attempts + 10):
        o = obs(state, (0, 0), target, "AllocationTimedOut" if target != (0, 0) else None, since)
        p = plan_resize(1, POOL, IMAGE, FIXED, retry, status, o, None, None, now, S)
        status = {**status, **p.status}
        if isinstance(p.action, Stall):
            break
        if isinstance(p.action, ResizePool):
            resizes += 1
            target, state = (800, 0), "Resizing"
        elif state == "Resizing":
            state, since = "Steady", now
        now += timedelta(seconds=p.requeue_after or 1)
    assert isinstance(p.action, Stall)
    assert p.action.reason is Reason.RESIZE_RETRIES_EXHAUSTED
    assert resizes == max_attempts


def test_azure_clock_ahead_of_ours_does_not_postpone_the_retry() -> None:
    """Skew (or the time-compressed simulator): the backoff runs on the operator's clock."""
    ahead = obs(current=(400, 0), code="AllocationTimedOut", since=NOW + timedelta(hours=3))
    first = run(ahead)
    assert isinstance(first.action, Wait)
    assert first.action.seconds == pytest.approx(60)
    recorded = first.status["lastResizeError"]
    assert recorded["time"] == rfc3339(NOW)
    assert recorded["azureTime"] == ahead.allocation_state_transition_time
    status = {"resizeAttempts": 1, "lastResizeError": recorded}
    later = NOW + timedelta(seconds=61)
    p = plan_resize(1, POOL, IMAGE, FIXED, RETRY, status, ahead, None, None, later, S)
    assert isinstance(p.action, ResizePool)
    assert p.status["resizeAttempts"] == 2


def test_a_new_failed_resize_with_the_same_code_gets_its_own_backoff() -> None:
    old = {
        "code": "AllocationTimedOut",
        "message": "m",
        "time": rfc3339(NOW - timedelta(hours=1)),
        "azureTime": "x",
    }
    fresh = obs(current=(800, 0), code="AllocationTimedOut", since=NOW + timedelta(hours=3))
    p = plan_resize(
        1,
        POOL,
        IMAGE,
        FixedScale(target_dedicated_nodes=1200),
        RETRY,
        {"resizeAttempts": 2, "lastResizeError": old},
        obs(current=(800, 0), target=(1200, 0), code="AllocationTimedOut", since=NOW + timedelta(hours=3)),
        None,
        None,
        NOW,
        S,
    )
    assert isinstance(p.action, Wait), p
    assert fresh.allocation_state_transition_time == p.status["lastResizeError"]["azureTime"]


def reconciling(p: Plan) -> str:
    return str(next(c for c in p.conditions if c["type"] == "Reconciling")["message"])


def test_an_observation_reads_every_field_arm_returns_and_defaults_what_is_absent() -> None:
    full = PoolObservation.from_arm(
        {
            "properties": {
                "allocationState": "Resizing",
                "allocationStateTransitionTime": "2026-01-02T03:04:05Z",
                "currentDedicatedNodes": 7,
                "currentLowPriorityNodes": 3,
                "scaleSettings": {"fixedScale": {"targetDedicatedNodes": 9, "targetLowPriorityNodes": 4}},
                "resizeOperationStatus": {"errors": [{"code": "AllocationTimedOut", "message": "late"}]},
            }
        }
    )
    assert full == PoolObservation(
        "Resizing", 7, 3, 9, 4, "2026-01-02T03:04:05Z", (("AllocationTimedOut", "late"),)
    )
    empty = PoolObservation.from_arm({"properties": {"scaleSettings": {"fixedScale": {}}}})
    assert empty == PoolObservation("Steady", 0, 0, 0, 0, None, ())
    autoscale = PoolObservation.from_arm({"properties": {"scaleSettings": {"autoScale": {"formula": "x"}}}})
    assert (autoscale.target_dedicated, autoscale.target_low_priority) == (None, None)
    assert PoolObservation.from_arm({}) == PoolObservation("Steady", 0, 0, None, None, None, ())


def test_messages_count_low_priority_nodes_too() -> None:
    fixed = FixedScale(target_dedicated_nodes=5, target_low_priority_nodes=3)
    p = run(obs("Resizing", current=(2, 1), target=(5, 3)), fixed=fixed)
    assert "2 dedicated + 1 low-priority of 5 dedicated + 3 low-priority nodes" in reconciling(p)


def test_the_attempt_number_shows_from_the_second_attempt() -> None:
    assert "attempt" not in reconciling(run(obs("Resizing", current=(100, 0)), attempts=1))
    assert "(attempt 2/3)" in reconciling(run(obs("Resizing", current=(100, 0)), attempts=2))
    unlimited = ResizeRetry(max_attempts=0, backoff_seconds=60)
    message = reconciling(run(obs("Resizing", current=(100, 0)), attempts=2, retry=unlimited))
    assert "(attempt 2/unlimited)" in message


def test_a_retry_counts_the_attempt_it_sends() -> None:
    p = run(obs(current=(400, 0), code="AllocationTimedOut"), attempts=2)
    assert isinstance(p.action, ResizePool)
    assert p.action.retry
    assert p.status["resizeAttempts"] == 3
    assert "(attempt 3/3)" in reconciling(p)


def test_a_retry_is_sent_once_the_backoff_has_passed_exactly() -> None:
    at = NOW - timedelta(seconds=RETRY.backoff_seconds)
    p = run(obs(current=(400, 0), code="AllocationTimedOut", since=at), attempts=1)
    assert isinstance(p.action, ResizePool)
    early = run(obs(current=(400, 0), code="AllocationTimedOut", since=at + timedelta(seconds=1)))
    assert isinstance(early.action, Wait)


def test_a_quota_stall_retries_once_the_recheck_interval_has_passed_exactly() -> None:
    at = NOW - timedelta(seconds=S.quota_recheck_seconds)
    p = run(obs(current=(400, 0), code="AccountCoreQuotaReached", since=at), attempts=1)
    assert isinstance(p.action, ResizePool)
    held = run(obs(current=(400, 0), code="AccountCoreQuotaReached", since=at + timedelta(seconds=1)))
    assert isinstance(held.action, Stall)


def test_shrinking_one_kind_is_not_growing_even_when_the_image_is_over_its_limit() -> None:
    fixed = FixedScale(target_dedicated_nodes=5, target_low_priority_nodes=0)
    over = limit_verdict("ns/p", (5, 0), 1, 1000)
    assert not over.fits
    p = run(obs(current=(5, 3), target=(5, 3)), fixed=fixed, limit=over)
    assert isinstance(p.action, ResizePool)
    grows = run(obs(current=(4, 0), target=(4, 0)), fixed=fixed, limit=over)
    assert isinstance(grows.action, Stall)


def test_a_pool_switched_from_autoscale_while_resizing_is_stopped_first() -> None:
    p = run(obs(state="Resizing", current=(3, 0), target=None))
    assert isinstance(p.action, StopResize)
    assert "while resizing to the targets of its autoscale formula" in reconciling(p)


def test_a_first_retry_of_a_pool_with_no_attempts_recorded_is_attempt_one() -> None:
    fresh = plan_resize(
        1, POOL, IMAGE, FIXED, RETRY, {}, obs(current=(400, 0), code="AllocationTimedOut"), None, None, NOW, S
    )
    assert isinstance(fresh.action, ResizePool)
    assert fresh.status["resizeAttempts"] == 1


@pytest.mark.parametrize("desired", [(1, 0), (0, 1)])
def test_growing_from_no_fixed_targets_is_growth_for_the_image_limit(desired: tuple[int, int]) -> None:
    over = limit_verdict("ns/p", (10, 10), 0, 0)
    fixed = FixedScale(target_dedicated_nodes=desired[0], target_low_priority_nodes=desired[1])
    p = run(obs(current=(0, 0), target=None), fixed=fixed, limit=over)
    assert isinstance(p.action, Stall)
    assert p.action.reason is Reason.IMAGE_NODE_LIMIT_EXCEEDED


def test_a_failed_resize_without_azure_transition_time_is_dated_now() -> None:
    o = PoolObservation("Steady", 400, 0, 800, 0, None, (("AllocationTimedOut", "timed out"),))
    p = run(o, now=NOW)
    assert p.status["lastResizeError"]["time"] == rfc3339(NOW)


def test_a_target_change_while_resizing_names_both_targets() -> None:
    p = run(obs(state="Resizing", current=(3, 0), target=(5, 0)))
    assert isinstance(p.action, StopResize)
    assert (
        "target changed to 800 dedicated + 0 low-priority while resizing to 5 dedicated + 0" in reconciling(p)
    )
