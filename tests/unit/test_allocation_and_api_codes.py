"""Codes Azure sends that the simulator's second round models: how the operator reads them.

The classifier turns an ARM/Batch error code into a category and a condition reason; the resize
planner turns a resize error code into the next step. Also the operator's api-version pins.
"""

from __future__ import annotations

import pytest

from azbatch_operator.azure.clients import (
    BATCH_API_VERSION,
    COMPUTE_API_VERSIONS,
    compute_area,
    pin_api_version,
)
from azbatch_operator.reconcile.conditions import Reason
from azbatch_operator.reconcile.errors import Category, classify
from azbatch_operator.reconcile.plan import CheckImage, ResizePool, Stall
from tests.unit.test_resize import obs, run

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("status", "code", "category", "reason"),
    [
        # a bad autoscale formula is the user's spec: InvalidSpec, never retried blindly
        (400, "AutoScalingFormulaSyntaxError", Category.TERMINAL, Reason.INVALID_SPEC),
        (400, "AutoScalingFormulaTooLong", Category.TERMINAL, Reason.INVALID_SPEC),
        (400, "InvalidAutoScalingSettings", Category.TERMINAL, Reason.INVALID_SPEC),
        # a region that does not serve the pinned api-version (still rolling out)
        (400, "NoRegisteredProviderFound", Category.TERMINAL, Reason.AZURE_ERROR),
        (400, "InvalidApiVersionParameter", Category.TERMINAL, Reason.AZURE_ERROR),
        # resize error codes (no HTTP status: they come in resizeOperationStatus.errors)
        (None, "IncompatibleVMSize", Category.TERMINAL, Reason.INVALID_SPEC),
        (None, "UnsupportedVMSize", Category.TERMINAL, Reason.INVALID_SPEC),
        (None, "OverconstrainedAllocationRequestError", Category.TERMINAL, Reason.AZURE_ERROR),
        (409, "OverconstrainedAllocationRequest", Category.TERMINAL, Reason.AZURE_ERROR),
        # the codes Batch uses for a missing pool and a pool mid-resize
        (404, "PoolNotFound", Category.NOT_FOUND, Reason.AZURE_ERROR),
        (409, "PoolBeingResized", Category.RETRIABLE, Reason.AZURE_ERROR),
        # codes are matched case-insensitively
        (400, "autoscalingformulasyntaxerror", Category.TERMINAL, Reason.INVALID_SPEC),
    ],
)
def test_new_codes_are_classified(status: int | None, code: str, category: Category, reason: Reason) -> None:
    verdict = classify(status, code, "message")
    assert (verdict.category, verdict.reason) == (category, reason)
    assert verdict.code == code


def test_allocation_timeouts_and_failures_stay_retriable_resize_codes() -> None:
    for code in ("AllocationTimedOut", "AllocationFailed", "ResizeStopped"):
        assert classify(None, code).category is Category.RETRIABLE


@pytest.mark.parametrize("code", ["IncompatibleVMSize", "UnsupportedVMSize"])
def test_resize_error_no_retry_heals_stalls_invalid_spec_at_once(code: str) -> None:
    p = run(obs(current=(0, 0), code=code), attempts=1)
    assert isinstance(p.action, Stall)
    stalled = next(c for c in p.conditions if c["type"] == "Stalled")
    assert (stalled["status"], stalled["reason"]) == ("True", Reason.INVALID_SPEC)
    assert code in stalled["message"]
    assert "spec.vmSize" in stalled["message"]
    assert p.status["lastResizeError"]["code"] == code
    # no attempt was spent on a resize that cannot succeed
    assert p.status["resizeAttempts"] == 1


def test_overconstrained_allocation_stalls_as_azure_error() -> None:
    p = run(obs(current=(3, 0), code="OverconstrainedAllocationRequestError"), attempts=2)
    assert isinstance(p.action, Stall)
    stalled = next(c for c in p.conditions if c["type"] == "Stalled")
    assert stalled["reason"] == Reason.AZURE_ERROR


def test_allocation_failed_with_the_image_present_retries_then_exhausts() -> None:
    """The "AllocationFailed, image present" path: check the image, then resize again."""
    failed = obs(current=(0, 0), code="AllocationFailed")
    assert isinstance(run(failed, attempts=1).action, CheckImage)
    again = run(failed, attempts=1, image_exists=True)
    assert isinstance(again.action, ResizePool)
    assert again.status["resizeAttempts"] == 2
    exhausted = run(failed, attempts=3, image_exists=True)
    assert isinstance(exhausted.action, Stall)
    stalled = next(c for c in exhausted.conditions if c["type"] == "Stalled")
    assert stalled["reason"] == Reason.RESIZE_RETRIES_EXHAUSTED


@pytest.mark.parametrize(
    ("path", "area"),
    [
        ("/subscriptions/s/resourceGroups/g/providers/Microsoft.Compute/snapshots/os", "disk"),
        ("/subscriptions/s/resourceGroups/g/providers/Microsoft.Compute/disks/d", "disk"),
        ("/subscriptions/s/providers/Microsoft.Compute/locations/l/DiskOperations/x", "disk"),
        ("/subscriptions/s/resourceGroups/g/providers/Microsoft.Compute/images/i", "compute"),
        ("/subscriptions/s/resourceGroups/g/providers/Microsoft.Compute/virtualMachines/v", "compute"),
        ("/subscriptions/s/providers/Microsoft.Compute/locations/l/operations/x", "compute"),
        ("/subscriptions/s/resourceGroups/g/providers/Microsoft.Compute/galleries/g/images/d", "gallery"),
        ("/subscriptions/s/providers/Microsoft.Compute/locations/l/capsOperations/x", "gallery"),
    ],
)
def test_compute_requests_map_to_their_resource_provider(path: str, area: str) -> None:
    assert compute_area(path) == area


def test_pin_replaces_only_the_api_version() -> None:
    url = "https://m/sub/snapshots/os?api-version=2026-03-02&$expand=x&p=a%2Fb"
    pinned = pin_api_version(url, COMPUTE_API_VERSIONS["disk"])
    assert pinned.count("api-version=") == 1
    assert f"api-version={COMPUTE_API_VERSIONS['disk']}" in pinned
    assert "$expand=x" in pinned
    assert "p=a%2Fb" in pinned or "p=a/b" in pinned
    assert pin_api_version("https://m/x?a=1", "2025-01-02") == "https://m/x?a=1"


def test_pins_are_explicit_versions() -> None:
    assert BATCH_API_VERSION == "2025-06-01"
    assert set(COMPUTE_API_VERSIONS) == {"compute", "disk", "gallery"}
    assert all(len(v) == 10 and v[4] == "-" for v in COMPUTE_API_VERSIONS.values())


def test_gallery_versions_the_operator_writes_allow_dropping_replicated_regions() -> None:
    """The Gallery RP refuses to remove a region unless safetyProfile allows it (default false)."""
    from azbatch_operator.reconcile.plan import CreateGalleryVersion, Done, UpdateGalleryReplication
    from tests.unit.test_image_plan import GALLERY_ID, OURS, T, arm, observed_to_gallery, plan, spec

    definition = arm(
        str(T.gallery_definition_id), osType="Linux", osState="Generalized", hyperVGeneration="V2"
    )
    create = plan(observed_to_gallery(gallery_definition=definition))
    assert isinstance(create.action, CreateGalleryVersion)
    assert create.action.params["properties"]["safetyProfile"] == {"allowDeletionOfReplicatedLocations": True}

    two = spec(
        gallery={
            "galleryId": GALLERY_ID,
            "imageDefinition": "render-node",
            "version": "1.0.0",
            "targetRegions": ["westeurope", "northeurope"],
        }
    )
    # Azure reports the regions by display name: the same regions, nothing to update
    shown = [
        {"name": "West Europe", "regionalReplicaCount": 1},
        {"name": "North Europe", "regionalReplicaCount": 1},
    ]
    version = arm(
        str(T.gallery_version_id), tags=OURS, publishingProfile={"targetRegions": shown, "replicaCount": 1}
    )
    steady = plan(observed_to_gallery(gallery_definition=definition, gallery_version=version), s=two)
    assert isinstance(steady.action, Done)
    # one region taken out of the spec: the update allows Azure to drop it
    shrink = plan(observed_to_gallery(gallery_definition=definition, gallery_version=version))
    assert isinstance(shrink.action, UpdateGalleryReplication)
    props = shrink.action.params["properties"]
    assert [r["name"] for r in props["publishingProfile"]["targetRegions"]] == ["westeurope"]
    assert props["safetyProfile"] == {"allowDeletionOfReplicatedLocations": True}
