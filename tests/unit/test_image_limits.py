from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from azbatch_operator.reconcile.image_limits import PoolUsage, check_image_limits, image_key

pytestmark = pytest.mark.unit

VER = "/subscriptions/s/resourceGroups/g/providers/Microsoft.Compute/galleries/g/images/d/versions/1.0.0"
IMG = "/subscriptions/s/resourceGroups/g/providers/Microsoft.Compute/images/Img"


def test_gallery_version_and_source_image_share_a_key() -> None:
    sources = {VER: IMG}
    assert image_key(VER, sources) == image_key(IMG.upper(), sources) == IMG.lower()
    assert image_key(VER) == VER.lower()
    assert image_key("a", {"a": "b", "b": "a"}) in {"a", "b"}  # cycles terminate


def test_verdict_message_lists_pools_and_sums() -> None:
    others = [PoolUsage("ns/a", IMG.lower(), 2000, 0), PoolUsage("ns/other", "x", 2500, 0)]
    v = check_image_limits("ns/b", IMG.lower(), 600, 10, others, 2500, 1000)
    assert not v.fits
    assert (v.dedicated_sum, v.low_priority_sum) == (2600, 10)
    assert v.pools == ("ns/a", "ns/b")
    assert "2600 dedicated nodes exceed the limit of 2500" in v.message
    assert "ns/a (2000 dedicated" in v.message
    assert v.shared
    assert "ns/a, ns/b" in v.shared_message()


def test_own_old_entry_is_replaced() -> None:
    usages = [PoolUsage("ns/b", "k", 2500, 0)]
    v = check_image_limits("ns/b", "k", 100, 0, usages, 2500, 1000)
    assert v.fits
    assert v.dedicated_sum == 100
    assert not v.shared


usage = st.builds(
    PoolUsage,
    pool=st.sampled_from([f"ns/p{i}" for i in range(6)]),
    image_key=st.sampled_from(["k", "K", "other"]),
    dedicated=st.integers(0, 1500),
    low_priority=st.integers(0, 600),
)


@settings(max_examples=150)
@given(
    usages=st.lists(usage, max_size=8, unique_by=lambda u: u.pool),
    ded=st.integers(0, 3000),
    low=st.integers(0, 1200),
    seed=st.randoms(use_true_random=False),
)
def test_verdict_iff_sums_within_limits(usages: list[PoolUsage], ded: int, low: int, seed: object) -> None:
    v = check_image_limits("ns/me", "k", ded, low, usages, 2500, 1000)
    same = [u for u in usages if u.image_key.lower() == "k" and u.pool != "ns/me"]
    exp_ded = ded + sum(u.dedicated for u in same)
    exp_low = low + sum(u.low_priority for u in same)
    assert (v.dedicated_sum, v.low_priority_sum) == (exp_ded, exp_low)
    assert v.fits == (exp_ded <= 2500 and exp_low <= 1000)
    shuffled = list(usages)
    seed.shuffle(shuffled)  # type: ignore[attr-defined]
    assert check_image_limits("ns/me", "k", ded, low, shuffled, 2500, 1000) == v
    assert "ns/me" in v.pools
