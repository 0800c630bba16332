from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from azbatch_operator.reconcile import conditions
from azbatch_operator.reconcile.conditions import Reason
from tests.unit.builders import NOW

pytestmark = pytest.mark.unit


def by_type(conds: list[conditions.Condition]) -> dict[str, conditions.Condition]:
    return {c["type"]: c for c in conds}


def test_triads_are_consistent() -> None:
    r = by_type(conditions.ready(3, NOW))
    assert (r["Ready"]["status"], r["Reconciling"]["status"], r["Stalled"]["status"]) == (
        "True",
        "False",
        "False",
    )
    assert r["Ready"]["reason"] == "Succeeded"
    assert r["Ready"]["observedGeneration"] == 3
    assert r["Ready"]["lastTransitionTime"] == "2026-01-02T03:04:05Z"

    p = by_type(conditions.progressing(1, NOW, Reason.RESIZING, "12/800"))
    assert (p["Ready"]["status"], p["Reconciling"]["status"], p["Stalled"]["status"]) == (
        "False",
        "True",
        "False",
    )
    assert p["Reconciling"]["message"] == "12/800"

    s = by_type(conditions.stalled(1, NOW, Reason.QUOTA_EXCEEDED, "raise the quota"))
    assert (s["Ready"]["status"], s["Reconciling"]["status"], s["Stalled"]["status"]) == (
        "False",
        "False",
        "True",
    )
    assert s["Stalled"]["reason"] == "QuotaExceeded"

    d = by_type(conditions.deleting(1, NOW, "deleting pool"))
    assert d["Ready"]["reason"] == "Deleting"


def test_unknown_status_and_naive_time() -> None:
    assert conditions.condition("X", None, "R", "", 1, NOW)["status"] == "Unknown"
    with pytest.raises(ValueError, match="timezone-aware"):
        conditions.rfc3339(datetime(2026, 1, 1))


def test_reasons_cover_design() -> None:
    design = [
        "Creating",
        "Resizing",
        "ResizeRetry",
        "Succeeded",
        "InvalidSpec",
        "ImageNotFound",
        "ImageNotReady",
        "ImageInUse",
        "ImageRegionMismatch",
        "ImageNodeLimitExceeded",
        "PreflightFailed",
        "QuotaExceeded",
        "ResizeRetriesExhausted",
        "AccessDenied",
        "Throttled",
        "AzureError",
        "Deleting",
    ]
    assert set(design) <= {r.value for r in Reason}


def test_merge_keeps_transition_time_when_status_unchanged() -> None:
    old = conditions.progressing(1, NOW, Reason.CREATING, "creating")
    later = NOW + timedelta(minutes=5)
    merged = by_type(conditions.merge(old, conditions.progressing(2, later, Reason.RESIZING, "resizing")))
    assert merged["Ready"]["lastTransitionTime"] == "2026-01-02T03:04:05Z"
    assert merged["Ready"]["reason"] == "Resizing"
    assert merged["Ready"]["observedGeneration"] == 2
    merged = by_type(conditions.merge(old, conditions.ready(2, later)))
    assert merged["Ready"]["lastTransitionTime"] == "2026-01-02T03:09:05Z"
    assert merged["Stalled"]["lastTransitionTime"] == "2026-01-02T03:04:05Z"


def test_merge_keeps_other_types() -> None:
    extra = conditions.condition("ImageShared", True, "ImageShared", "", 1, NOW)
    merged = conditions.merge([extra], conditions.ready(1, NOW))
    assert [c["type"] for c in merged] == ["ImageShared", "Ready", "Reconciling", "Stalled"]


statuses = st.sampled_from([True, False, None])


@settings(max_examples=100)
@given(
    old=st.lists(statuses, min_size=3, max_size=3),
    new=st.lists(statuses, min_size=3, max_size=3),
    minutes=st.integers(1, 10_000),
)
def test_merge_property(old: list[bool | None], new: list[bool | None], minutes: int) -> None:
    types = ["Ready", "Reconciling", "Stalled"]
    later = NOW + timedelta(minutes=minutes)
    before = [conditions.condition(t, s, "A", "", 1, NOW) for t, s in zip(types, old, strict=True)]
    after = [conditions.condition(t, s, "B", "", 2, later) for t, s in zip(types, new, strict=True)]
    merged = by_type(conditions.merge(before, after))
    for t, o, n in zip(types, old, new, strict=True):
        expected = NOW if o == n else later
        assert conditions.parse_rfc3339(merged[t]["lastTransitionTime"]) == expected.astimezone(UTC)
        assert merged[t]["reason"] == "B"


def test_a_long_message_is_bounded_so_the_status_stays_within_the_crd() -> None:
    from datetime import UTC, datetime

    from azbatch_operator.reconcile import conditions as c

    long = "x" * 40_000
    cond = c.condition(c.STALLED, True, "AzureError", long, 1, datetime.now(UTC))
    assert len(cond["message"]) <= c.MESSAGE_MAX < 32768
    assert cond["message"].endswith("(truncated)")
    short = c.condition(c.STALLED, True, "AzureError", "fine", 1, datetime.now(UTC))
    assert short["message"] == "fine"


def test_ready_says_the_state_matches_unless_told_more() -> None:
    assert by_type(conditions.ready(1, NOW))["Ready"]["message"] == "Azure state matches the spec"
    told = by_type(conditions.ready(1, NOW, message="5/5 nodes"))["Ready"]["message"]
    assert told == "5/5 nodes"


def test_find_returns_the_condition_of_that_type_or_none() -> None:
    conds = conditions.progressing(2, NOW, Reason.RESIZING, "3/5")
    found = conditions.find(conds, conditions.RECONCILING)
    assert found is not None
    assert found["status"] == "True"
    assert found["message"] == "3/5"
    assert conditions.find(conds, "ImageShared") is None
    assert conditions.find([], conditions.READY) is None


def test_bounded_keeps_a_message_of_exactly_the_limit_and_cuts_one_longer_to_the_limit() -> None:
    exact = "y" * conditions.MESSAGE_MAX
    assert conditions.bounded(exact) == exact
    cut = conditions.bounded(exact + "z")
    assert conditions.MESSAGE_MAX - 1 <= len(cut) <= conditions.MESSAGE_MAX  # as much text as fits
    assert cut.startswith("y" * 100)
    assert cut.endswith(" … (truncated)")
    assert conditions.MESSAGE_MAX == 4096


def test_holds_only_a_condition_of_that_type_with_status_true() -> None:
    ready = conditions.ready(1, NOW)
    assert conditions.holds(ready, conditions.READY)
    assert not conditions.holds(ready, conditions.STALLED)  # there, but False
    assert not conditions.holds(ready, conditions.IMAGE_SHARED)  # absent
    unknown = conditions.condition(conditions.READY, None, Reason.WAITING, "?", 1, NOW)
    assert not conditions.holds([unknown], conditions.READY)
    assert not conditions.holds([], conditions.READY)
