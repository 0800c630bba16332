"""The node-health decision: thresholds, verdicts, messages, and what the resize loop may still do."""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from azbatch_operator.api.batch_pool import FixedScale, ResizeRetry
from azbatch_operator.api.status import status_patch
from azbatch_operator.reconcile import conditions, node_health
from azbatch_operator.reconcile.conditions import Reason, rfc3339
from azbatch_operator.reconcile.node_health import NodeCounts, NodeSample, Thresholds, assess
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
from azbatch_operator.reconcile.resize import PoolObservation, plan_resize
from azbatch_operator.settings import Settings, SettingsError
from tests.unit.builders import NOW

pytestmark = pytest.mark.unit

S = Settings(poll_fast_seconds=15, poll_slow_seconds=600)
POOL = "/subscriptions/s/resourceGroups/g/providers/Microsoft.Batch/batchAccounts/a/pools/p"
T = Thresholds(start_task_failed=1, unusable=1, unusable_fraction=0.05)


def counts(ded: dict[str, int] | None = None, low: dict[str, int] | None = None) -> NodeCounts:
    def kind(states: dict[str, int] | None) -> dict[str, Any]:
        states = dict(states or {})
        return {**states, "total": sum(states.values())}

    return NodeCounts.from_wire({"poolId": "p", "dedicated": kind(ded), "lowPriority": kind(low)})


FAILED = NodeSample.from_wire(
    {
        "id": "tvmps_1_d",
        "state": "starttaskfailed",
        "startTaskInfo": {
            "exitCode": 42,
            "failureInfo": {"category": "usererror", "code": "FailureExitCode", "message": "exit 42"},
        },
    }
)
UNUSABLE = NodeSample.from_wire(
    {"id": "tvmps_2_d", "state": "unusable", "errors": [{"code": "DiskFull", "message": "the disk is full"}]}
)


def obs(state: str = "Steady", current: tuple[int, int] = (20, 0), target: tuple[int, int] = (20, 0)) -> Any:
    return PoolObservation(state, current[0], current[1], target[0], target[1], rfc3339(NOW))


def ready_plan() -> Plan:
    return Plan(
        Done(), tuple(conditions.ready(1, NOW, Reason.SUCCEEDED, "pool is steady")), {"poolId": POOL}, 600
    )


def test_counts_parse_the_wire_and_keep_design_states_only() -> None:
    c = NodeCounts.from_wire(
        {"dedicated": {"idle": 3, "running": 2, "startTaskFailed": 1, "upgradingOS": 4, "total": 10}}
    )
    status = c.to_status()
    assert list(status["dedicated"]) == list(node_health.STATES)
    assert "upgradingOS" not in status["dedicated"]
    assert status["lowPriority"]["total"] == 0
    assert (c.usable, c.total, c.of("startTaskFailed")) == (5, 10, 1)


def test_a_single_failed_start_task_is_unhealthy_with_exit_code_and_advice() -> None:
    c = counts({"idle": 19, "startTaskFailed": 1})
    assert node_health.states_to_sample(c, T) == ("startTaskFailed",)
    v = assess(c, [FAILED], T, None, None, NOW)
    assert v.reason is Reason.START_TASK_FAILED
    for part in (
        "1 of 20 nodes failed their start task",
        "exit code 42",
        "FailureExitCode: exit 42",
        "spec.startTask",
    ):
        assert part in v.message, v.message
    assert v.status == {"reason": "StartTaskFailed", "since": rfc3339(NOW)}
    assert not v.recovering


def test_unusable_threshold_is_a_count_or_a_fraction_of_the_pool() -> None:
    assert T.unusable_limit(20) == 1
    assert T.unusable_limit(2000) == 100
    assert assess(counts({"idle": 1900, "unusable": 99}), [], T, None, None, NOW).healthy
    v = assess(counts({"idle": 1900, "unusable": 100}), [UNUSABLE], T, None, None, NOW)
    assert v.reason is Reason.NODES_UNUSABLE
    assert "DiskFull: the disk is full" in v.message
    assert "spec.nodeRecovery.removeUnusableAfter" in v.message


def test_start_task_failure_wins_over_unusable() -> None:
    v = assess(
        counts({"idle": 10, "unusable": 5, "startTaskFailed": 2}), [UNUSABLE, FAILED], T, None, None, NOW
    )
    assert v.reason is Reason.START_TASK_FAILED
    assert "tvmps_1_d" in v.message


def test_preempted_and_other_states_are_no_health_problem() -> None:
    c = counts({"idle": 5, "rebooting": 3, "leavingPool": 1}, {"preempted": 10, "running": 2})
    assert node_health.states_to_sample(c, T) == ()
    assert assess(c, [], T, None, None, NOW).healthy


@given(
    failed=st.integers(0, 50),
    unusable=st.integers(0, 500),
    idle=st.integers(0, 3000),
    start_limit=st.integers(1, 10),
    unusable_min=st.integers(1, 50),
    fraction=st.floats(0, 1),
)
def test_verdict_matches_the_thresholds(
    failed: int, unusable: int, idle: int, start_limit: int, unusable_min: int, fraction: float
) -> None:
    th = Thresholds(start_limit, unusable_min, fraction)
    c = counts({"idle": idle, "startTaskFailed": failed, "unusable": unusable})
    v = assess(c, [], th, None, None, NOW)
    total = idle + failed + unusable
    if failed >= start_limit:
        assert v.reason is Reason.START_TASK_FAILED
    elif unusable >= max(unusable_min, math.ceil(fraction * total)):
        assert v.reason is Reason.NODES_UNUSABLE
    else:
        assert v.healthy
    assert bool(node_health.states_to_sample(c, th)) == (not v.healthy)


def test_since_is_kept_while_the_reason_stays_and_recovery_becomes_due() -> None:
    c = counts({"idle": 17, "unusable": 3})
    first = assess(c, [UNUSABLE], T, timedelta(minutes=15), None, NOW)
    assert first.recovering
    assert not first.remove
    assert first.recovery_in == pytest.approx(900)
    later = NOW + timedelta(minutes=16)
    due = assess(c, [UNUSABLE], T, timedelta(minutes=15), first.status, later)
    assert due.status is not None
    assert due.status["since"] == rfc3339(NOW)
    assert due.remove == ("tvmps_2_d",)
    assert "Batch replaces them" in due.message


def test_start_task_failures_are_never_removed() -> None:
    v = assess(counts({"idle": 5, "startTaskFailed": 5}), [FAILED], T, timedelta(0), None, NOW)
    assert v.reason is Reason.START_TASK_FAILED
    assert not v.remove
    assert not v.recovering


def test_healthy_pool_keeps_its_plan_and_clears_node_health() -> None:
    plan = ready_plan()
    out = node_health.apply(plan, node_health.HEALTHY, POOL, obs(), False, 1, NOW, S)
    assert out.action == plan.action
    assert out.conditions == plan.conditions
    assert out.status["nodeHealth"] is None


def test_forbidden_note_extends_the_ready_message_only() -> None:
    note = node_health.forbidden_note("Account_ListPoolNodeCounts", "AuthorizationFailure")
    out = node_health.apply(ready_plan(), node_health.HEALTHY, POOL, obs(), False, 1, NOW, S, note=note)
    ready = conditions.find(out.conditions, conditions.READY)
    assert ready is not None
    assert ready["status"] == "True"
    assert "Azure Batch Data Contributor" in ready["message"]
    assert "Microsoft.Batch/batchAccounts/pools/read" in ready["message"]
    assert isinstance(out.action, Done)


def _retry_plan(current: int, attempts: int) -> Plan:
    return plan_resize(
        1,
        POOL,
        None,
        FixedScale(target_dedicated_nodes=2000),
        ResizeRetry(max_attempts=10, backoff_seconds=0),
        {"resizeAttempts": attempts},
        PoolObservation(
            "Steady", current, 0, 2000, 0, rfc3339(NOW - timedelta(minutes=5)), (("AllocationTimedOut", "t"),)
        ),
        None,
        None,
        NOW,
        S,
    )


def test_unhealthy_pool_sends_no_growing_resize_and_counts_no_attempt() -> None:
    plan = _retry_plan(400, 2)
    assert isinstance(plan.action, ResizePool)
    assert plan.action.retry, "same targets as the pool: the data plane's Pool_Resize is used"
    v = assess(counts({"idle": 397, "startTaskFailed": 3}), [FAILED], T, None, None, NOW)
    out = node_health.apply(
        plan, v, POOL, obs(current=(400, 0), target=(2000, 0)), False, 1, NOW, S, recorded_attempts=2
    )
    assert isinstance(out.action, Wait)
    assert out.status["resizeAttempts"] == 2
    stalled = conditions.find(out.conditions, conditions.STALLED)
    assert stalled is not None
    assert (stalled["status"], stalled["reason"]) == ("True", "StartTaskFailed")


def test_a_running_growing_resize_is_stopped_and_a_shrink_still_goes() -> None:
    v = assess(counts({"idle": 90, "unusable": 10}), [UNUSABLE], T, None, None, NOW)
    waiting = Plan(
        Wait(15, Reason.RESIZING), tuple(conditions.progressing(1, NOW, Reason.RESIZING, "resizing")), {}
    )
    out = node_health.apply(waiting, v, POOL, obs("Resizing", (100, 0), (400, 0)), False, 1, NOW, S)
    assert out.action == StopResize(POOL)
    shrink = ResizePool(POOL, 50, 0, "PT15M", {}, retry=False)
    out = node_health.apply(
        Plan(shrink, tuple(conditions.progressing(1, NOW, Reason.RESIZING, "r")), {}),
        v,
        POOL,
        obs(current=(100, 0)),
        False,
        1,
        NOW,
        S,
    )
    assert out.action == shrink


def test_recovery_due_removes_the_unusable_nodes_on_a_steady_pool() -> None:
    v = assess(counts({"idle": 17, "unusable": 3}), [UNUSABLE], T, timedelta(0), None, NOW)
    out = node_health.apply(ready_plan(), v, POOL, obs(), False, 1, NOW, S, deallocation="TaskCompletion")
    assert out.action == RemoveNodes(POOL, ("tvmps_2_d",), "TaskCompletion")
    reconciling = conditions.find(out.conditions, conditions.RECONCILING)
    assert reconciling is not None
    assert (reconciling["status"], reconciling["reason"]) == ("True", "NodesUnusable")
    assert out.requeue_after == S.poll_fast_seconds


def test_more_specific_stalls_are_kept() -> None:
    quota = Plan(
        Stall(Reason.QUOTA_EXCEEDED, "raise the quota"),
        tuple(conditions.stalled(1, NOW, Reason.QUOTA_EXCEEDED, "q")),
        {},
    )
    v = assess(counts({"idle": 10, "unusable": 5}), [], T, None, None, NOW)
    out = node_health.apply(quota, v, POOL, obs(), False, 1, NOW, S)
    assert out.action == quota.action
    assert out.status["nodeHealth"]["reason"] == "NodesUnusable"


def test_describe_truncates_long_messages() -> None:
    long = NodeSample("n1", "unusable", "X", "m" * 1000)
    assert len(long.describe()) < 260
    assert long.describe().endswith("...")


@given(
    state=st.sampled_from(["Steady", "Resizing", "Stopping"]),
    current=st.integers(0, 3000),
    pool_target=st.integers(0, 3000),
    desired=st.integers(0, 3000),
    attempts=st.integers(0, 9),
    failed=st.integers(1, 20),
)
def test_an_unhealthy_pool_is_never_grown(
    state: str, current: int, pool_target: int, desired: int, attempts: int, failed: int
) -> None:
    """Whatever the resize planner wanted, no action that adds nodes survives an unhealthy verdict."""
    observation = PoolObservation(
        state, current, 0, pool_target, 0, rfc3339(NOW - timedelta(minutes=5)), (("AllocationTimedOut", "t"),)
    )
    plan = plan_resize(
        1,
        POOL,
        None,
        FixedScale(target_dedicated_nodes=desired),
        ResizeRetry(max_attempts=10, backoff_seconds=0),
        {"resizeAttempts": attempts},
        observation,
        None,
        None,
        NOW,
        S,
    )
    v = assess(counts({"idle": current, "startTaskFailed": failed}), [FAILED], T, None, None, NOW)
    out = node_health.apply(plan, v, POOL, observation, False, 1, NOW, S, recorded_attempts=attempts)
    if isinstance(out.action, ResizePool):
        assert out.action.target_dedicated_nodes <= current
    if state == "Resizing" and pool_target > current:
        assert isinstance(out.action, StopResize)
    assert out.status["resizeAttempts"] <= max(attempts, plan.status["resizeAttempts"])
    stalled = conditions.find(out.conditions, conditions.STALLED)
    assert stalled is not None
    assert stalled["reason"] == "StartTaskFailed"


def test_settings_read_the_node_health_knobs_and_refuse_nonsense() -> None:
    env = {
        "AZBATCH_START_TASK_FAILED_NODES": "3",
        "AZBATCH_UNUSABLE_NODES_FRACTION": "0.2",
        "AZBATCH_NODE_COUNTS_MAX_AGE_SECONDS": "30",
        "AZBATCH_DATA_PLANE": "false",
    }
    s = Settings.from_env(env)
    assert (s.start_task_failed_nodes, s.unusable_nodes_fraction, s.node_counts_max_age_seconds) == (
        3,
        0.2,
        30,
    )
    assert s.data_plane is False
    assert Thresholds.from_settings(s).unusable_limit(100) == 20
    assert s.node_counts_age == 30
    assert Settings().node_counts_age == 60, "four fast polls of 15 s"
    assert Settings.from_env({"AZBATCH_POLL_FAST_SECONDS": "1"}).node_counts_age == 4
    for bad in (
        {"AZBATCH_UNUSABLE_NODES_FRACTION": "1.5"},
        {"AZBATCH_START_TASK_FAILED_NODES": "0"},
        {"AZBATCH_NODE_COUNTS_MAX_AGE_SECONDS": "-1"},
    ):
        with pytest.raises(SettingsError, match=next(iter(bad))):
            Settings.from_env(bad)


def test_a_ready_message_grown_by_a_note_past_the_cap_is_written_within_it() -> None:
    """The note is added after the condition was bounded: the status writer cuts it again."""
    long_ready = Plan(
        Done(), tuple(conditions.ready(1, NOW, Reason.SUCCEEDED, "x" * 10_000)), {"poolId": POOL}
    )
    note = node_health.forbidden_note("Account_ListPoolNodeCounts", "AuthorizationFailure")
    out = node_health.apply(long_ready, node_health.HEALTHY, POOL, obs(), False, 1, NOW, S, note=note)
    ready = conditions.find(out.conditions, conditions.READY)
    assert ready is not None
    assert len(ready["message"]) > conditions.MESSAGE_MAX
    patch = status_patch("batchpools", {**out.status, "conditions": list(out.conditions)})
    sent = next(c for c in patch["conditions"] if c["type"] == conditions.READY)
    assert sent["message"] == conditions.bounded(ready["message"])
    assert patch["nodeHealth"] is None


def test_node_counts_are_written_as_the_crd_has_them() -> None:
    v = assess(counts({"idle": 397, "startTaskFailed": 3}), [FAILED], T, None, None, NOW)
    out = node_health.apply(ready_plan(), v, POOL, obs(), False, 1, NOW, S)
    extra = {"nodeCounts": counts({"idle": 397, "startTaskFailed": 3}).to_status(), "usableNodes": "397/400"}
    fields = {**out.status, **extra, "conditions": list(out.conditions)}
    patch = status_patch("batchpools", fields)
    assert patch["nodeCounts"]["dedicated"]["startTaskFailed"] == 3
    assert patch["nodeCounts"]["lowPriority"]["total"] == 0
    assert patch["nodeHealth"] == {"reason": Reason.START_TASK_FAILED, "since": rfc3339(NOW)}
    assert patch == fields | {"conditions": [dict(c) for c in out.conditions]}


def test_node_health_is_reviewed_only_for_a_pool_that_exists_and_stays() -> None:
    steady = {"properties": {"provisioningState": "Succeeded", "allocationState": "steady"}}
    deleting = {"properties": {"provisioningState": "Deleting"}}
    assert node_health.reviewed(ready_plan(), steady)
    assert not node_health.reviewed(ready_plan(), None)
    assert not node_health.reviewed(ready_plan(), deleting)
    assert not node_health.reviewed(Plan(Done(), ready_plan().conditions, {}), steady), "no poolId yet"
    for action in (CreatePool(POOL, {}), AdoptPool(POOL), DeletePool(POOL)):
        assert not node_health.reviewed(Plan(action, (), {"poolId": POOL}), steady), action


def test_counts_and_usable_nodes_of_the_targets_are_added_to_the_plan() -> None:
    plan = Plan(Done(), (), {"poolId": POOL, "targetDedicatedNodes": 300, "targetLowPriorityNodes": 100})
    c = counts({"idle": 250, "running": 48, "startTaskFailed": 2}, {"running": 90, "preempted": 10})
    out = node_health.with_counts(plan, c)
    assert out.status["usableNodes"] == "388/400"
    assert out.status["nodeCounts"] == c.to_status()
    assert out.status["poolId"] == POOL
    assert node_health.with_counts(Plan(Done(), (), {}), c).status["usableNodes"] == "388/0"


def test_a_refused_data_plane_warns_on_ready_and_removes_stale_counts() -> None:
    note = node_health.forbidden_note("Account_ListPoolNodeCounts", "AuthorizationFailure")
    out = node_health.unknown(ready_plan(), POOL, obs(), False, 1, NOW, S, note)
    assert out.status["nodeCounts"] is None
    assert out.status["usableNodes"] is None
    assert out.status["nodeHealth"] is None
    ready = conditions.find(out.conditions, conditions.READY)
    assert ready is not None
    assert ready["message"].endswith(f"; warning: {note}")
    assert isinstance(out.action, Done)
    assert out.requeue_after == ready_plan().requeue_after
