"""The conditions the operator writes are metav1.Conditions and follow kstatus.

kstatus (sigs.k8s.io/cli-utils, used by Flux, kpt and `kubectl wait`) reads Ready / Reconciling /
Stalled: never Reconciling and Stalled True together, and Ready=True only with both False.
Every constructor in reconcile/conditions.py, for every reason, and any sequence of merges is checked.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from azbatch_operator.reconcile import conditions
from azbatch_operator.reconcile.conditions import Condition, Reason

#: metav1.Condition validation (k8s.io/apimachinery/pkg/apis/meta/v1/types.go).
REASON = re.compile(r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$")
TYPE = re.compile(
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$"
)
RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
FIELDS = {"type", "status", "reason", "message", "lastTransitionTime", "observedGeneration"}
NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)

Constructor = Callable[[int, datetime, str, str], list[Condition]]
CONSTRUCTORS: dict[str, Constructor] = {
    "ready": lambda gen, now, reason, message: conditions.ready(gen, now, reason, message),
    "progressing": conditions.progressing,
    "stalled": conditions.stalled,
    "deleting": lambda gen, now, reason, message: conditions.deleting(gen, now, message, reason),
}


def assert_metav1(cond: Condition) -> None:
    assert set(cond) == FIELDS, cond
    assert TYPE.match(cond["type"])
    assert len(cond["type"]) <= 316
    assert cond["status"] in ("True", "False", "Unknown")
    assert REASON.match(cond["reason"]), cond["reason"]
    assert len(cond["reason"]) <= 1024
    assert isinstance(cond["message"], str)
    assert len(cond["message"]) <= 32768
    assert RFC3339.match(cond["lastTransitionTime"]), cond["lastTransitionTime"]
    assert type(cond["observedGeneration"]) is int
    assert cond["observedGeneration"] >= 0


def assert_kstatus(conds: list[Condition]) -> None:
    by_type = {c["type"]: c["status"] for c in conds}
    assert len(by_type) == len(conds), "one condition per type"
    assert {conditions.READY, conditions.RECONCILING, conditions.STALLED} <= set(by_type)
    assert not (by_type[conditions.RECONCILING] == "True" and by_type[conditions.STALLED] == "True")
    if by_type[conditions.READY] == "True":
        assert by_type[conditions.RECONCILING] == "False"
        assert by_type[conditions.STALLED] == "False"


@pytest.mark.parametrize("reason", list(Reason))
def test_every_reason_is_a_valid_metav1_reason(reason: Reason) -> None:
    assert REASON.match(reason.value)
    assert reason.value[0].isupper(), "CamelCase"


@pytest.mark.parametrize("name", sorted(CONSTRUCTORS))
@pytest.mark.parametrize("reason", list(Reason))
def test_constructors_write_metav1_conditions_that_follow_kstatus(name: str, reason: Reason) -> None:
    conds = CONSTRUCTORS[name](7, NOW, reason, "what to do next")
    for cond in conds:
        assert_metav1(cond)
        assert cond["observedGeneration"] == 7
    assert_kstatus(conds)
    by_type = {c["type"]: c["status"] for c in conds}
    expected = {
        "ready": "Ready",
        "progressing": "Reconciling",
        "deleting": "Reconciling",
        "stalled": "Stalled",
    }
    assert by_type[expected[name]] == "True"
    assert sum(status == "True" for status in by_type.values()) == 1, "exactly one of the triad holds"


def test_unknown_status_and_extra_condition_types_are_metav1_too() -> None:
    cond = conditions.condition(conditions.IMAGE_SHARED, None, Reason.NOT_SHARED, "", 1, NOW)
    assert_metav1(cond)
    assert cond["status"] == "Unknown"


def test_timestamps_are_utc_rfc3339_and_naive_times_are_refused() -> None:
    other_zone = datetime(2026, 1, 2, 5, 4, 5, tzinfo=UTC).astimezone(timezone(timedelta(hours=2)))
    assert conditions.rfc3339(other_zone) == "2026-01-02T05:04:05Z"
    with pytest.raises(ValueError, match="timezone-aware"):
        conditions.rfc3339(datetime(2026, 1, 2))


@given(
    st.lists(
        st.tuples(st.sampled_from(sorted(CONSTRUCTORS)), st.sampled_from(list(Reason)), st.integers(1, 5)),
        min_size=1,
        max_size=12,
    )
)
def test_any_sequence_of_merges_stays_kstatus_and_keeps_transition_times(
    steps: list[tuple[str, Reason, int]],
) -> None:
    current: list[Condition] = []
    for i, (name, reason, gen) in enumerate(steps):
        now = NOW + timedelta(minutes=i)
        new = CONSTRUCTORS[name](gen, now, reason, f"step {i}")
        merged = conditions.merge(current, new)
        for cond in merged:
            assert_metav1(cond)
            old = conditions.find(current, cond["type"])
            if old is not None and old["status"] == cond["status"]:
                assert cond["lastTransitionTime"] == old["lastTransitionTime"]
            else:
                assert cond["lastTransitionTime"] == conditions.rfc3339(now)
        assert_kstatus(merged)
        current = merged
