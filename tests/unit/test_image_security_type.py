"""ManagedImage gallery.securityType: the image definition the operator creates carries the
SecurityType feature trusted-launch pools need; an existing definition without it is InvalidSpec."""

from __future__ import annotations

import pytest

from azbatch_operator.reconcile.conditions import Reason
from azbatch_operator.reconcile.plan import EnsureGalleryDefinition, Stall
from tests.unit.builders import GALLERY_ID, arm
from tests.unit.test_image_plan import T, observed_to_gallery, plan, spec

pytestmark = pytest.mark.unit

TRUSTED = spec(
    gallery={
        "galleryId": GALLERY_ID,
        "imageDefinition": "render-node",
        "version": "1.0.0",
        "securityType": "TrustedLaunchSupported",
    }
)


def test_definition_is_created_with_the_security_type_feature() -> None:
    p = plan(observed_to_gallery(), s=TRUSTED)
    assert isinstance(p.action, EnsureGalleryDefinition)
    props = p.action.params["properties"]
    assert props["features"] == [{"name": "SecurityType", "value": "TrustedLaunchSupported"}]
    assert props["hyperVGeneration"] == "V2"


def test_without_security_type_no_feature_is_set() -> None:
    p = plan(observed_to_gallery())
    assert isinstance(p.action, EnsureGalleryDefinition)
    assert "features" not in p.action.params["properties"]


def test_existing_definition_without_the_feature_is_invalid_spec() -> None:
    definition = arm(
        str(T.gallery_definition_id), osType="Linux", osState="Generalized", hyperVGeneration="V2"
    )
    p = plan(observed_to_gallery(gallery_definition=definition), s=TRUSTED)
    assert isinstance(p.action, Stall)
    assert p.action.reason is Reason.INVALID_SPEC
    assert "SecurityType is unset (want TrustedLaunchSupported)" in p.action.message
