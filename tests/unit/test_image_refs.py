"""How a pool's image reference resolves through the ManagedImage index, and per-image claims."""

from __future__ import annotations

from typing import Any

import pytest

from azbatch_operator.api.batch_pool import BatchPoolSpec
from azbatch_operator.reconcile import image_refs
from azbatch_operator.reconcile.conditions import Reason
from azbatch_operator.reconcile.image_limits import ImageLimitVerdict
from azbatch_operator.reconcile.image_refs import ImageSummary, PoolClaim
from azbatch_operator.settings import Settings
from tests.unit.builders import ACCOUNT_ID, GALLERY_ID, RG

pytestmark = pytest.mark.unit

VERSION = f"{GALLERY_ID}/images/render-node/versions/1.0.0"
IMAGE = f"{RG}/providers/Microsoft.Compute/images/render-node"


def spec(image: dict[str, Any], dedicated: int = 10) -> BatchPoolSpec:
    return BatchPoolSpec.model_validate(
        {
            "accountId": ACCOUNT_ID,
            "vmSize": "Standard_D4s_v5",
            "nodeAgentSkuId": "batch.node.ubuntu 22.04",
            "image": image,
            "scale": {"fixed": {"targetDedicatedNodes": dedicated}},
        }
    )


def summary(ready: bool = True, **kw: Any) -> ImageSummary:
    values: dict[str, Any] = {
        "ready": ready,
        "reason": "" if ready else "Creating",
        "message": "" if ready else "capturing",
        "image_id": IMAGE,
        "gallery_version_id": VERSION,
        "location": "westeurope",
        "target_regions": ("westeurope",),
    }
    return ImageSummary(**(values | kw))


REF = {"managedImageRef": {"name": "render-node"}}


def test_a_ref_resolves_to_the_gallery_version_of_a_ready_image() -> None:
    found = image_refs.resolve_image("ns", spec(REF), {("ns", "render-node"): [summary()]})
    assert (found.ready, found.image_id, found.location, found.target_regions) == (
        True,
        VERSION,
        "westeurope",
        ("westeurope",),
    )
    only_image = summary(gallery_version_id=None)
    assert image_refs.resolve_image("ns", spec(REF), {("ns", "render-node"): [only_image]}).image_id == IMAGE


def test_a_ref_waits_for_a_missing_or_unready_image_in_its_own_namespace() -> None:
    missing = image_refs.resolve_image("ns", spec(REF), {("other", "render-node"): [summary()]})
    assert (missing.ready, missing.image_id, missing.reason) == (False, None, Reason.IMAGE_NOT_READY)
    assert "ns/render-node does not exist" in (missing.message or "")
    waiting = image_refs.resolve_image("ns", spec(REF), {("ns", "render-node"): [summary(ready=False)]})
    assert (waiting.ready, waiting.reason) == (False, Reason.IMAGE_NOT_READY)
    assert "(Creating: capturing)" in (waiting.message or "")


def test_an_id_waits_only_while_a_managed_image_publishing_it_is_unusable() -> None:
    by_id = spec({"id": VERSION.upper()})
    assert image_refs.resolve_image("ns", by_id, {}).image_id == VERSION.upper()
    assert image_refs.resolve_image("ns", by_id, {("x", "y"): [summary()]}).ready
    blocked = image_refs.resolve_image("ns", by_id, {("x", "y"): [summary(ready=False)]})
    assert (blocked.ready, blocked.image_id) == (False, None)
    assert "ManagedImage x/y's" in (blocked.message or "")
    unrelated = summary(ready=False, image_id="/other", gallery_version_id=None)
    assert image_refs.resolve_image("ns", by_id, {("x", "y"): [unrelated]}).ready


def test_claims_on_one_image_count_together_whatever_the_pool_names_it_by() -> None:
    images = {("ns", "render-node"): [summary()]}
    others = [
        PoolClaim("ns/a", "managedimage:ns/render-node", 6, 0, None, "2026-01-01T00:00:00Z"),
        PoolClaim("ns/b", VERSION.lower(), 3, 0, (3, 0), "2026-01-01T00:00:01Z"),
        PoolClaim("ns/c", "/some/other/image", 100, 0, None, "2026-01-01T00:00:02Z"),
    ]
    meta = {"namespace": "ns", "name": "me", "creationTimestamp": "2026-01-02T00:00:00Z"}
    settings = Settings(image_max_dedicated_nodes=20)
    resolved = image_refs.resolve_claims(others, images)
    verdict = image_refs.image_limit_verdict(meta, spec(REF), {}, VERSION, resolved, settings)
    assert verdict is not None
    assert verdict.pools == ("ns/a", "ns/b", "ns/me")
    assert verdict.dedicated_sum == 19
    assert verdict.fits
    assert verdict.shared
    tight = Settings(image_max_dedicated_nodes=18)
    refused = image_refs.image_limit_verdict(meta, spec(REF), {}, VERSION, resolved, tight)
    assert refused is not None
    assert not refused.fits
    assert image_refs.image_limit_verdict(meta, spec(REF), {}, None, resolved, settings) is None


def test_a_pool_that_begins_sharing_its_image_wakes_the_others_on_it_once() -> None:
    def verdict(*pools: str) -> ImageLimitVerdict:
        return ImageLimitVerdict(True, "key", pools, 0, 0, 2500, 1000, "")

    me = ("team-a", "render")
    shared = verdict("team-a/render", "team-b/render", "team-a/other")
    assert image_refs.sharers_to_wake(shared, False, me) == [("team-b", "render"), ("team-a", "other")]
    # Already shared before this pass (the others were told), alone on the image, or no limit
    # check at all (autoscale, no image): nothing to tell.
    assert image_refs.sharers_to_wake(shared, True, me) is None
    assert image_refs.sharers_to_wake(verdict("team-a/render"), False, me) is None
    assert image_refs.sharers_to_wake(None, False, me) is None
