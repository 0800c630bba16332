from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from azbatch_operator.reconcile import arm_ids
from tests.unit.builders import ACCOUNT_ID, GALLERY_ID, RG, VM_ID

pytestmark = pytest.mark.unit

VERSION_ID = f"{GALLERY_ID}/images/render-node/versions/1.0.0"


def test_parse_child_resource() -> None:
    rid = arm_ids.parse(VERSION_ID)
    assert rid.resource_group == "images-rg"
    assert rid.namespace == "Microsoft.Compute"
    assert rid.types == ("galleries", "images", "versions")
    assert rid.names == ("batchimages", "render-node", "1.0.0")
    assert rid.name == "1.0.0"
    assert rid.resource_type == arm_ids.GALLERY_IMAGE_VERSION
    assert rid.parent is not None
    assert str(rid.parent) == f"{GALLERY_ID}/images/render-node"
    assert str(rid) == VERSION_ID


def test_case_insensitive_equality() -> None:
    a = arm_ids.parse(VM_ID)
    b = arm_ids.parse(VM_ID.upper().replace("/SUBSCRIPTIONS/", "/subscriptions/"))
    assert a == b
    assert hash(a) == hash(b)
    assert arm_ids.same(VM_ID, VM_ID.lower())
    assert not arm_ids.same(VM_ID, ACCOUNT_ID)
    assert arm_ids.same(None, None)
    assert not arm_ids.same(VM_ID, None)


@pytest.mark.parametrize(
    ("fn", "good"),
    [
        (arm_ids.is_batch_account_id, ACCOUNT_ID),
        (arm_ids.is_virtual_machine_id, VM_ID),
        (arm_ids.is_gallery_image_version_id, VERSION_ID),
        (arm_ids.is_gallery_id, GALLERY_ID),
        (arm_ids.is_managed_image_id, f"{RG}/providers/microsoft.compute/IMAGES/x"),
        (arm_ids.is_snapshot_id, f"{RG}/providers/Microsoft.Compute/snapshots/s"),
    ],
)
def test_kind_helpers(fn: Callable[[str | None], bool], good: str) -> None:
    assert fn(good)
    assert not fn(f"{GALLERY_ID}/images/render-node")  # a gallery image definition is none of these
    assert not fn("not an id")
    assert not fn(None)


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "subscriptions/x",
        "/subscriptions",
        "/subscriptions/x/foo/y",
        "/subscriptions/x/resourceGroups/g/providers/N/t",
        "/subscriptions/x/resourceGroups/g/providers/N/t/n/c",
        "/subscriptions//resourceGroups/g",
    ],
)
def test_rejects_malformed(bad: str) -> None:
    with pytest.raises(arm_ids.InvalidResourceId):
        arm_ids.parse(bad)


def test_builders() -> None:
    rid = arm_ids.resource_id("s", "g", arm_ids.GALLERY_IMAGE, "gal", "def")
    assert (
        str(rid) == "/subscriptions/s/resourceGroups/g/providers/Microsoft.Compute/galleries/gal/images/def"
    )
    assert str(rid.child("versions", "1.0.0")).endswith("/images/def/versions/1.0.0")
    with pytest.raises(arm_ids.InvalidResourceId):
        arm_ids.resource_id("s", "g", arm_ids.GALLERY_IMAGE, "gal")


segment = st.text(
    alphabet=st.characters(min_codepoint=33, max_codepoint=126, exclude_characters="/?#%\\"),
    min_size=1,
    max_size=12,
).filter(lambda s: s not in (".", ".."))


@pytest.mark.parametrize(
    "text",
    [
        "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Batch/batchAccounts/a?api-version=1",
        "/subscriptions/../resourceGroups/../providers/Microsoft.Batch/batchAccounts/..",
        "/subscriptions/s/resourceGroups/rg%2F..%2Fother/providers/Microsoft.Batch/batchAccounts/a",
        "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Batch/batchAccounts/a#frag",
        "/subscriptions/s/resourceGroups/r g/providers/Microsoft.Batch/batchAccounts/a",
        "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Batch/batchAccounts/a\\b",
    ],
)
def test_ids_that_would_change_the_request_are_refused(text: str) -> None:
    """Hostile ids pass the CRD's `[^/]+` rules; the SDK would encode them into another URL."""
    with pytest.raises(arm_ids.InvalidResourceId, match="cannot contain"):
        arm_ids.parse(text)
    assert not arm_ids.is_batch_account_id(text)


@settings(max_examples=150)
@given(
    sub=segment,
    group=segment,
    ns=segment,
    pairs=st.lists(st.tuples(segment, segment), min_size=1, max_size=4),
)
def test_round_trip(sub: str, group: str, ns: str, pairs: list[tuple[str, str]]) -> None:
    rid = arm_ids.ResourceId(sub, group, ns, tuple(t for t, _ in pairs), tuple(n for _, n in pairs))
    text = str(rid)
    parsed = arm_ids.parse(text)
    assert str(parsed) == text
    assert parsed == arm_ids.parse(text.swapcase().replace("/SUBSCRIPTIONS/", "/subscriptions/"))
