"""What a failure the planners never saw reports, and when it is tried again
(reconcile/failures.py)."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from azbatch_operator.reconcile import conditions, failures, polling
from azbatch_operator.reconcile.conditions import Reason
from azbatch_operator.reconcile.errors import classify
from azbatch_operator.settings import Settings
from tests.unit.builders import NOW

pytestmark = pytest.mark.unit

S = Settings(poll_fast_seconds=15, poll_slow_seconds=600, retry_base_seconds=2, retry_max_seconds=300)


def headline(conds: list[conditions.Condition]) -> tuple[str, str]:
    """Which of Reconciling / Stalled holds, and its reason."""
    (holding,) = [c for c in conds if c["type"] != conditions.READY and c["status"] == "True"]
    return holding["type"], holding["reason"]


def test_a_throttled_call_is_reconciling_and_waits_at_least_what_azure_asked() -> None:
    error = classify(429, "TooManyRequests", "slow down", retry_after="120")
    conds, delay = failures.azure_failure(error, "Pools_Create", 4, NOW, 0, S)
    assert headline(conds) == (conditions.RECONCILING, Reason.THROTTLED)
    assert delay == 120
    assert {c["observedGeneration"] for c in conds} == {4}


@given(st.integers(min_value=0, max_value=40))
def test_a_transient_failure_backs_off_with_the_attempt(attempt: int) -> None:
    error = classify(503, "ServiceUnavailable", "busy")
    conds, delay = failures.azure_failure(error, "Images_Get", 1, NOW, attempt, S)
    assert headline(conds) == (conditions.RECONCILING, Reason.AZURE_ERROR)
    assert delay == polling.backoff(attempt, S)


@pytest.mark.parametrize(
    ("status", "code", "reason"),
    [
        (403, "AuthorizationFailed", Reason.ACCESS_DENIED),
        (400, "InvalidParameter", Reason.INVALID_SPEC),
        (404, "ResourceNotFound", Reason.AZURE_ERROR),
    ],
)
def test_a_failure_a_human_must_fix_stalls_and_is_looked_at_on_the_slow_poll(
    status: int, code: str, reason: Reason
) -> None:
    conds, delay = failures.azure_failure(classify(status, code, "why"), "Snapshots_Create", 2, NOW, 5, S)
    assert headline(conds) == (conditions.STALLED, reason)
    assert delay == S.poll_slow_seconds
    ready = conditions.find(conds, conditions.READY)
    assert ready is not None
    assert ready["status"] == "False"
    assert ready["message"].startswith(f"Snapshots_Create failed with {code}: why (")


def test_the_operators_own_failure_says_so_and_retries_with_backoff() -> None:
    conds, delay = failures.own_failure("delete pool", KeyError("spec"), 3, NOW, 2, S)
    assert headline(conds) == (conditions.RECONCILING, Reason.TRANSIENT_ERROR)
    ready = conditions.find(conds, conditions.READY)
    assert ready is not None
    assert (
        ready["message"]
        == "delete pool failed unexpectedly: KeyError: 'spec'; retrying (see the operator log)"
    )
    assert delay == polling.backoff(2, S) == 8
    jittered = failures.own_failure("reconcile", RuntimeError("x"), 3, NOW, 2, S, random.Random(1))[1]
    assert jittered == polling.backoff(2, S, random.Random(1))
