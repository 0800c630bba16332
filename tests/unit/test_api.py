from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from azbatch_operator.api import BatchPoolSpec, ManagedImageSpec, describe_validation_error
from tests.unit.builders import ACCOUNT_ID, GALLERY_ID, SUB, VM_ID

pytestmark = pytest.mark.unit


def image_spec(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "resourceGroup": "images-rg",
        "location": "westeurope",
        "source": {"virtualMachine": {"id": VM_ID}},
    }
    body.update(overrides)
    return body


def pool_spec(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "accountId": ACCOUNT_ID,
        "vmSize": "Standard_D4s_v5",
        "nodeAgentSkuId": "batch.node.ubuntu 22.04",
        "image": {"managedImageRef": {"name": "render-node-v1"}},
        "scale": {"fixed": {"targetDedicatedNodes": 800}},
    }
    body.update(overrides)
    return body


def test_managed_image_defaults() -> None:
    spec = ManagedImageSpec.model_validate(
        image_spec(gallery={"galleryId": GALLERY_ID, "imageDefinition": "d", "version": "1.0.0"})
    )
    assert spec.hyper_v_generation == "V1"
    assert spec.deletion_policy == "Delete"
    assert spec.image_name is None
    assert spec.gallery is not None
    assert spec.gallery.replica_count == 1
    assert spec.gallery.effective_target_regions(spec.location) == ("westeurope",)


def test_target_regions_always_include_the_source_region() -> None:
    spec = ManagedImageSpec.model_validate(
        image_spec(
            gallery={
                "galleryId": GALLERY_ID,
                "imageDefinition": "d",
                "version": "1.0.0",
                "targetRegions": ["eastus"],
            }
        )
    )
    assert spec.gallery is not None
    assert spec.gallery.effective_target_regions("West Europe") == ("West Europe", "eastus")


def test_subscription_defaults_to_operator_setting() -> None:
    spec = ManagedImageSpec.model_validate(image_spec())
    assert spec.subscription(SUB) == SUB
    assert ManagedImageSpec.model_validate(image_spec(subscriptionId="other")).subscription(SUB) == "other"
    with pytest.raises(ValueError, match="AZURE_SUBSCRIPTION_ID"):
        spec.subscription(None)


def test_source_needs_exactly_one() -> None:
    both = {"virtualMachine": {"id": VM_ID}, "snapshots": {"osDisk": {"snapshotId": "x", "osType": "Linux"}}}
    with pytest.raises(ValidationError, match="exactly one"):
        ManagedImageSpec.model_validate(image_spec(source=both))
    with pytest.raises(ValidationError, match="exactly one"):
        ManagedImageSpec.model_validate(image_spec(source={}))


def test_snapshot_source_rejects_duplicate_luns() -> None:
    source = {
        "snapshots": {
            "osDisk": {"snapshotId": "a", "osType": "Linux"},
            "dataDisks": [{"lun": 0, "snapshotId": "b"}, {"lun": 0, "snapshotId": "c"}],
        }
    }
    with pytest.raises(ValidationError, match="duplicate lun"):
        ManagedImageSpec.model_validate(image_spec(source=source))


def test_pool_defaults_and_aliases() -> None:
    spec = BatchPoolSpec.model_validate(pool_spec())
    assert spec.scale.fixed is not None
    assert spec.scale.fixed.resize_timeout == "PT25M"
    assert spec.scale.fixed.node_deallocation_option == "Requeue"
    assert spec.scale.fixed.target_low_priority_nodes == 0
    assert spec.resize_retry.max_attempts == 10
    assert spec.resize_retry.backoff_seconds == 60
    assert spec.deletion_policy == "Delete"
    assert BatchPoolSpec.model_validate(spec.to_wire()) == spec
    # populate_by_name: snake_case works too
    assert BatchPoolSpec(**spec.model_dump()).vm_size == "Standard_D4s_v5"


@pytest.mark.parametrize(
    ("override", "needle"),
    [
        ({"poolName": "bad name!"}, "poolName"),
        ({"scale": {"fixed": {"resizeTimeout": "PT2M"}}}, "minimum of 5 minutes"),
        ({"scale": {"fixed": {"resizeTimeout": "25 minutes"}}}, "ISO-8601"),
        ({"scale": {"fixed": {}, "auto": {"formula": "x"}}}, "exactly one"),
        ({"image": {"id": "x", "managedImageRef": {"name": "y"}}}, "exactly one"),
        ({"scale": {"fixed": {"targetDedicatedNodes": -1}}}, "targetDedicatedNodes"),
    ],
)
def test_pool_spec_errors_are_readable(override: dict[str, Any], needle: str) -> None:
    with pytest.raises(ValidationError) as info:
        BatchPoolSpec.model_validate(pool_spec(**override))
    assert needle in describe_validation_error(info.value)
