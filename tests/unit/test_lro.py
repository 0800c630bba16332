"""Long-running operations recorded in status: which one is still within its grace time."""

from __future__ import annotations

from datetime import timedelta

import pytest

from azbatch_operator.reconcile import lro
from tests.unit.builders import NOW

pytestmark = pytest.mark.unit

POOL = "/subscriptions/s/resourceGroups/g/providers/Microsoft.Batch/batchAccounts/a/pools/p"


def op(seconds_ago: float, rid: str = POOL) -> lro.Operation:
    return lro.Operation("create", rid, NOW - timedelta(seconds=seconds_ago))


def test_an_operation_is_recent_strictly_within_its_grace_time() -> None:
    assert lro.recently_started([op(119.9)], POOL, NOW, 120) == op(119.9)
    assert lro.recently_started([op(120)], POOL, NOW, 120) is None  # at the grace: lost, not lag
    assert lro.recently_started([op(121)], POOL, NOW, 120) is None
    assert lro.recently_started([op(0)], POOL, NOW, 0) is None  # no grace at all


def test_only_an_operation_on_that_resource_counts_ids_compared_as_arm_does() -> None:
    other = POOL.replace("/pools/p", "/pools/q")
    assert lro.recently_started([op(1, other)], POOL, NOW, 120) is None
    assert lro.recently_started([op(1, other), op(2)], POOL.upper(), NOW, 120) == op(2)


def test_operations_round_trip_through_status_and_skip_what_is_unreadable() -> None:
    ops = (op(5), op(10, POOL + "x"))
    status = {"operations": [o.to_status() for o in ops] + [{"type": "create"}, "junk"]}
    assert lro.operations(status) == (op(5), op(10, POOL + "x"))
    assert lro.operations({}) == ()


def test_provisioning_states() -> None:
    def res(state: str | None) -> dict[str, object]:
        return {"properties": {} if state is None else {"provisioningState": state}}

    assert lro.state_of(None) is lro.State.ABSENT
    assert lro.state_of(res(None)) is lro.State.SUCCEEDED
    assert lro.state_of(res("Succeeded")) is lro.State.SUCCEEDED
    for failed in ("Failed", "Canceled", "Cancelled"):
        assert lro.state_of(res(failed)) is lro.State.FAILED
    assert lro.state_of(res("Deleting")) is lro.State.DELETING
    assert lro.state_of(res("Creating")) is lro.State.IN_PROGRESS
    assert lro.error_of({"properties": {"error": {"code": "Bad", "message": "no"}}}) == "Bad: no"
    assert lro.error_of({"properties": {"error": {"code": "Bad"}}}) == "Bad"
    assert lro.error_of({"properties": {}}) == "provisioningState Failed"
