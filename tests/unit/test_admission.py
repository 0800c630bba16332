"""Admission on a custom image: the per-image node limits counted the way Azure counts them."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from azbatch_operator.reconcile import admission
from azbatch_operator.reconcile.admission import Claim

pytestmark = pytest.mark.unit

KEY = "/subscriptions/s/resourcegroups/rg/providers/microsoft.compute/galleries/g/images/d/versions/1.0.0"
MAX_D, MAX_L = 100, 50


def claim(pool: str, wanted: int, held: int | None = None, created: str = "2026-01-01T00:00:00Z") -> Claim:
    return Claim(pool, KEY, (wanted, 0), None if held is None else (held, 0), created)


def verdicts(claims: list[Claim]) -> dict[str, bool]:
    return {c.pool: admission.admit(c, claims, MAX_D, MAX_L).fits for c in claims}


def test_two_pools_applied_at_once_the_older_is_admitted_never_both_refused() -> None:
    older = claim("ns/b", 70, created="2026-01-01T00:00:00Z")
    newer = claim("ns/a", 70, created="2026-01-01T00:00:01Z")
    assert verdicts([older, newer]) == {"ns/b": True, "ns/a": False}
    # Same second: namespace/name decides.
    tie_a, tie_b = claim("ns/a", 70), claim("ns/b", 70)
    assert verdicts([tie_b, tie_a]) == {"ns/a": True, "ns/b": False}


def test_a_refused_pool_does_not_stop_a_running_pool_growing_into_the_headroom() -> None:
    running = claim("ns/run", 60, held=40, created="2026-01-02T00:00:00Z")
    refused = claim("ns/big", 90, created="2026-01-01T00:00:00Z")  # older, but 90 + 40 never fits
    result = verdicts([running, refused])
    assert result == {"ns/run": True, "ns/big": False}
    mine = admission.admit(running, [running, refused], MAX_D, MAX_L)
    assert mine.dedicated_sum == 60  # the refused pool counts zero


def test_growth_beyond_the_headroom_is_refused_and_the_pool_keeps_what_it_holds() -> None:
    a = claim("ns/a", 50, held=50)
    b = claim("ns/b", 80, held=40, created="2026-01-03T00:00:00Z")
    assert verdicts([a, b]) == {"ns/a": True, "ns/b": False}
    # A new third pool fits into what b's refused growth left.
    c = claim("ns/c", 10, created="2026-01-04T00:00:00Z")
    assert verdicts([a, b, c])["ns/c"] is True


def test_a_seven_hundred_pool_message_stays_under_one_kib() -> None:
    claims = [claim(f"namespace-{i:03d}/render-pool-{i:03d}", 1, held=1) for i in range(700)]
    me = claim("namespace-new/render-pool-new", 5000, created="2027-01-01T00:00:00Z")
    verdict = admission.admit(me, [*claims, me], 1000, 1000)
    assert not verdict.fits
    assert len(verdict.message.encode()) < 1024, len(verdict.message.encode())
    assert "and 698 more" in verdict.message
    assert "namespace-new/render-pool-new (5000 dedicated" in verdict.message  # the largest first
    assert len(verdict.shared_message().encode()) < 1024
    assert len(verdict.pools) == 701  # the full list stays available to the shell


claims_strategy = st.lists(
    st.tuples(
        st.integers(0, 80),
        st.one_of(st.none(), st.integers(0, 60)),
        st.integers(0, 5),
    ),
    min_size=1,
    max_size=8,
).map(
    lambda rows: [
        Claim(f"ns/p{i}", KEY, (w, 0), None if h is None else (h, 0), f"2026-01-01T00:00:0{t}Z")
        for i, (w, h, t) in enumerate(rows)
    ]
)


@given(claims_strategy, st.randoms())
def test_every_pool_computes_the_same_answer_whatever_the_order(
    claims: list[Claim], rnd: random.Random
) -> None:
    shuffled = list(claims)
    rnd.shuffle(shuffled)
    assert admission.counted(claims, MAX_D, MAX_L) == admission.counted(shuffled, MAX_D, MAX_L)


@given(claims_strategy)
def test_admitted_growth_never_takes_the_image_over_its_limit(claims: list[Claim]) -> None:
    held = sum((c.held or (0, 0))[0] for c in claims)
    counts = admission.counted(claims, MAX_D, MAX_L)
    total = sum(d for d, _ in counts.values())
    if held <= MAX_D:
        assert total <= MAX_D
    else:
        assert total == held  # over already (in Azure): nothing more is admitted


@given(claims_strategy)
def test_of_competing_new_pools_the_oldest_that_fits_is_admitted(claims: list[Claim]) -> None:
    counts = admission.counted(claims, MAX_D, MAX_L)
    held = sum((c.held or (0, 0))[0] for c in claims)
    growing = [c for c in admission.order(claims) if c.wanted[0] > (c.held or (0, 0))[0]]
    if growing and held - (growing[0].held or (0, 0))[0] + growing[0].wanted[0] <= MAX_D:
        assert admission.admit(growing[0], claims, MAX_D, MAX_L).fits
    # A refused pool counts only what it holds.
    for c in claims:
        if not admission.admit(c, claims, MAX_D, MAX_L).fits:
            assert counts[c.pool] == (c.held or (0, 0))


@given(claims_strategy, st.integers(0, 200), st.integers(0, 9))
def test_a_refused_pool_changes_nobody_elses_answer(claims: list[Claim], wanted: int, age: int) -> None:
    """Older or newer than the others: once refused, it counts zero."""
    newcomer = Claim("zz/new", KEY, (wanted, 0), None, f"2026-01-01T00:00:0{age}Z")
    with_new = [*claims, newcomer]
    if not admission.admit(newcomer, with_new, MAX_D, MAX_L).fits:
        assert {c.pool: admission.admit(c, with_new, MAX_D, MAX_L).fits for c in claims} == verdicts(claims)


def test_claims_on_other_images_do_not_count() -> None:
    other = Claim("ns/x", "/other", (100, 0), (100, 0))
    me = claim("ns/me", 100)
    assert admission.admit(me, [other, me], MAX_D, MAX_L).fits


def reference_counts(claims: list[Claim], max_d: int, max_l: int) -> dict[str, tuple[int, int]]:
    """The module docstring's pass, written the plain way: after each admission the sums are taken
    again over every pool."""
    ordered = sorted(claims, key=lambda c: (c.created, c.pool))
    counts = {c.pool: c.held or (0, 0) for c in ordered}
    for c in ordered:
        held = counts[c.pool]
        if c.wanted[0] <= held[0] and c.wanted[1] <= held[1]:
            continue
        trial = {**counts, c.pool: (max(c.wanted[0], held[0]), max(c.wanted[1], held[1]))}
        if sum(d for d, _ in trial.values()) <= max_d and sum(lp for _, lp in trial.values()) <= max_l:
            counts = trial
    return counts


both_kinds = st.lists(
    st.tuples(
        st.tuples(st.integers(0, 80), st.integers(0, 40)),
        st.one_of(st.none(), st.tuples(st.integers(0, 60), st.integers(0, 30))),
        st.integers(0, 5),
    ),
    min_size=1,
    max_size=8,
).map(
    lambda rows: [Claim(f"ns/p{i}", KEY, w, h, f"2026-01-01T00:00:0{t}Z") for i, (w, h, t) in enumerate(rows)]
)


@given(both_kinds)
def test_the_pass_matches_the_plain_model_for_dedicated_and_low_priority_nodes(claims: list[Claim]) -> None:
    expected = reference_counts(claims, MAX_D, MAX_L)
    assert admission.counted(claims, MAX_D, MAX_L) == expected
    for c in claims:
        verdict = admission.admit(c, claims, MAX_D, MAX_L)
        mine = expected[c.pool]
        assert verdict.fits is (mine[0] >= c.wanted[0] and mine[1] >= c.wanted[1])
        at_wanted = {**expected, c.pool: (max(c.wanted[0], mine[0]), max(c.wanted[1], mine[1]))}
        assert verdict.dedicated_sum == sum(d for d, _ in at_wanted.values())
        assert verdict.low_priority_sum == sum(lp for _, lp in at_wanted.values())
        if not verdict.fits:
            over_d = verdict.dedicated_sum > MAX_D
            over_l = verdict.low_priority_sum > MAX_L
            assert ("dedicated nodes exceed" in verdict.message) is over_d, verdict.message
            assert ("low-priority nodes exceed" in verdict.message) is over_l, verdict.message


def test_the_message_names_the_largest_pools_first_and_clips_long_names() -> None:
    long_name = "ns/" + "p" * 120
    claims = [
        Claim("ns/small", KEY, (1, 1), (1, 1)),
        Claim(long_name, KEY, (5, 5), (5, 5)),
        Claim("ns/mid", KEY, (3, 0), (3, 0)),
    ]
    verdict = admission.admit(claims[0], claims, MAX_D, MAX_L)
    text = verdict.message
    clipped = long_name[:79] + "…"
    assert clipped + " (5 dedicated, 5 low-priority)" in text
    assert long_name not in text
    assert (
        text.index(clipped) < text.index("ns/mid (3 dedicated") < text.index("ns/small (1 dedicated, 1 low")
    )
    assert "9/100 dedicated and 6/50 low-priority" in text


def test_growth_to_exactly_the_limit_is_admitted_and_an_80_character_name_is_kept_whole() -> None:
    name = "ns/" + "q" * 77
    assert len(name) == 80
    held = Claim("ns/held", KEY, (60, 30), (60, 30))
    grows = Claim(name, KEY, (MAX_D - 60, MAX_L - 30), None, "2026-02-01T00:00:00Z")
    verdict = admission.admit(grows, [held, grows], MAX_D, MAX_L)
    assert verdict.fits
    assert (verdict.dedicated_sum, verdict.low_priority_sum) == (MAX_D, MAX_L)
    assert f"{name} (40 dedicated, 20 low-priority)" in verdict.message


@given(both_kinds, st.tuples(st.integers(0, 80), st.integers(0, 40)), st.integers(0, 7))
def test_a_shared_tally_gives_each_pool_the_verdict_of_its_own_pass(
    claims: list[Claim], changed: tuple[int, int], which: int
) -> None:
    """The tally serves a pool only as the index holds it; one whose claim changed since (its own
    status just written) gets its own pass, and every answer equals the pass without a tally."""
    shared = admission.tally(KEY.upper(), claims, MAX_D, MAX_L)
    me = claims[which % len(claims)]
    moved = Claim(me.pool, me.image_key, changed, me.held, me.created)
    for c in [*claims, moved]:
        assert admission.admit(c, claims, MAX_D, MAX_L, tally=shared) == admission.admit(
            c, claims, MAX_D, MAX_L
        )
    other_limits = admission.admit(me, claims, MAX_D + 7, MAX_L, tally=shared)
    assert other_limits == admission.admit(me, claims, MAX_D + 7, MAX_L)


def test_a_tally_of_no_fitting_pool_serves_nobody() -> None:
    refused = [claim("ns/a", MAX_D + 1), claim("ns/b", MAX_D + 2)]
    assert admission.tally(KEY, refused, MAX_D, MAX_L) is None
    assert admission.tally("/other", refused, MAX_D, MAX_L) is None
