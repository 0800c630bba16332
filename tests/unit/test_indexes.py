"""The in-memory indexes: which ManagedImages pools may use, and each pool's claim on an image."""

from __future__ import annotations

from typing import Any

import pytest

from azbatch_operator.handlers import indexes

pytestmark = pytest.mark.unit

READY = {"type": "Ready", "status": "True", "reason": "Succeeded", "message": "published"}
VERSION = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/galleries/g/images/d/versions/1.0.0"


def image(generation: int = 2, observed: int = 2, deleting: bool = False, regions: Any = None) -> Any:
    meta: dict[str, Any] = {"generation": generation}
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    status: dict[str, Any] = {
        "observedGeneration": observed,
        "conditions": [READY],
        "galleryImageVersionId": VERSION,
    }
    if regions is not None:
        status["targetRegions"] = regions
    spec = {"location": "westeurope", "gallery": {"targetRegions": ["westeurope", "northeurope"]}}
    return indexes.summarize_image(meta, spec, status)


def test_usable_only_when_ready_for_the_current_generation_and_not_deleted() -> None:
    assert image().ready
    assert image().consumable_id == VERSION
    stale = image(generation=3, observed=2)
    assert not stale.ready
    assert "latest spec" in stale.message
    deleting = image(deleting=True)
    assert not deleting.ready
    assert deleting.reason == "Deleting"


def test_replicated_regions_come_from_status() -> None:
    assert image(regions=["westeurope"]).target_regions == ("westeurope",)
    # Objects written before status carried them fall back to the spec's.
    assert image().target_regions == ("westeurope", "northeurope")


def test_a_claim_holds_what_azure_has_and_wants_its_spec_targets() -> None:
    spec = {"image": {"id": VERSION}, "scale": {"fixed": {"targetDedicatedNodes": 9}}}
    meta = {"creationTimestamp": "2026-01-01T00:00:00Z"}
    new = indexes.claim_of("ns", "p", meta, spec, {})
    assert new is not None
    assert (new.dedicated, new.held, new.created) == (9, None, "2026-01-01T00:00:00Z")
    running = indexes.claim_of("ns", "p", meta, spec, {"poolId": "x", "targetDedicatedNodes": 4})
    assert running is not None
    assert running.held == (4, 0)
    # Autoscale pools count with the targets their formula set; a deleting pool does not grow.
    auto = {"image": {"id": VERSION}, "scale": {"auto": {"formula": "f"}}}
    claim = indexes.claim_of("ns", "a", meta, auto, {"poolId": "x", "targetDedicatedNodes": 7})
    assert claim is not None
    assert (claim.dedicated, claim.held) == (7, (7, 0))
    gone = indexes.claim_of("ns", "p", {**meta, "deletionTimestamp": "t"}, spec, {"poolId": "x"})
    assert gone is not None
    assert gone.dedicated == 0


def test_a_pool_stalled_for_another_reason_claims_no_headroom() -> None:
    spec = {"image": {"id": VERSION}, "scale": {"fixed": {"targetDedicatedNodes": 9}}}

    def stalled(reason: str) -> dict[str, Any]:
        return {"conditions": [{"type": "Stalled", "status": "True", "reason": reason, "message": ""}]}

    owned = indexes.claim_of("ns", "p", {}, spec, stalled("AlreadyOwned"))
    assert owned is not None
    assert owned.dedicated == 0
    refused = indexes.claim_of("ns", "p", {}, spec, stalled("ImageNodeLimitExceeded"))
    assert refused is not None
    assert refused.dedicated == 9  # still competes, oldest first
