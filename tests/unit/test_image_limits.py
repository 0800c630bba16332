"""Image keys (which pools count against one image's node limits) and the limit verdict's wording."""

from __future__ import annotations

import pytest

from azbatch_operator.reconcile import admission
from azbatch_operator.reconcile.admission import Claim
from azbatch_operator.reconcile.image_limits import image_key

pytestmark = pytest.mark.unit

VER = "/subscriptions/s/resourceGroups/g/providers/Microsoft.Compute/galleries/g/images/d/versions/1.0.0"
IMG = "/subscriptions/s/resourceGroups/g/providers/Microsoft.Compute/images/Img"


def test_gallery_version_and_source_image_share_a_key() -> None:
    sources = {VER: IMG}
    assert image_key(VER, sources) == image_key(IMG.upper(), sources) == IMG.lower()
    assert image_key(VER) == VER.lower()
    assert image_key("a", {"a": "b", "b": "a"}) in {"a", "b"}  # cycles terminate


def test_verdict_message_lists_pools_and_sums() -> None:
    others = [Claim("ns/a", IMG.lower(), (2000, 0), (2000, 0)), Claim("ns/other", "x", (2500, 0), (2500, 0))]
    v = admission.admit(Claim("ns/b", IMG.lower(), (600, 10), None), others, 2500, 1000)
    assert not v.fits
    assert (v.dedicated_sum, v.low_priority_sum) == (2600, 10)
    assert v.pools == ("ns/a", "ns/b")
    assert "2600 dedicated nodes exceed the limit of 2500" in v.message
    assert "ns/a (2000 dedicated" in v.message
    assert v.shared
    assert "ns/a, ns/b" in v.shared_message()


def test_own_old_entry_is_replaced() -> None:
    v = admission.admit(Claim("ns/b", "k", (100, 0), None), [Claim("ns/b", "k", (2500, 0), None)], 2500, 1000)
    assert v.fits
    assert v.dedicated_sum == 100
    assert not v.shared
