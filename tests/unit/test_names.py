from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from azbatch_operator.reconcile import names
from azbatch_operator.reconcile.names import ObjectMeta
from tests.unit.builders import META

pytestmark = pytest.mark.unit

dns_label = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?", fullmatch=True)
dns_name = st.from_regex(r"[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?", fullmatch=True)


def test_snapshot_names_are_per_disk() -> None:
    os_name = names.snapshot_name(META, None)
    data = names.snapshot_name(META, 3)
    assert os_name == "team-a-render-node-v1-1234abcd-os"
    assert data == "team-a-render-node-v1-1234abcd-data-lun-3"


def test_owner_tags_and_ownership() -> None:
    tags = names.owner_tags(META)
    assert tags == {"azbatch.io-owner": "team-a/render-node-v1", "azbatch.io-uid": META.uid}
    assert all("/" not in k for k in tags)  # Azure refuses "/" in tag names
    assert names.is_owned({"AZBATCH.IO-UID": META.uid}, META)
    assert not names.is_owned({"azbatch.io-uid": "other"}, META)
    assert not names.is_owned(None, META)
    assert names.owner_of(tags) == "team-a/render-node-v1"


def test_image_and_pool_name_defaults() -> None:
    assert names.image_name("custom", "meta") == "custom"
    assert names.image_name(None, "render-node-v1") == "render-node-v1"
    assert names.pool_name(None, "render") == "render"
    assert names.pool_name("given", "x") == "given"
    dotted = names.pool_name(None, "render.v1")
    assert names.is_valid_pool_name(dotted)
    assert dotted != names.pool_name(None, "render-v1")  # sanitising must not collide


@pytest.mark.parametrize(
    ("version", "ok"), [("1.0.0", True), ("2147483647.0.1", True), ("2147483648.0.0", False), ("1.0", False)]
)
def test_gallery_version(version: str, ok: bool) -> None:
    assert names.is_valid_gallery_version(version) is ok


@settings(max_examples=150)
@given(ns=dns_label, name=dns_name, uid=st.uuids(), lun=st.one_of(st.none(), st.integers(0, 63)))
def test_snapshot_names_valid_and_deterministic(ns: str, name: str, uid: object, lun: int | None) -> None:
    meta = ObjectMeta(ns, name, str(uid))
    first = names.snapshot_name(meta, lun)
    assert names.is_valid_compute_name(first), first
    assert len(first) <= names.COMPUTE_NAME_MAX
    assert first == names.snapshot_name(ObjectMeta(ns, name, str(uid)), lun)
    other = None if lun is not None else 0
    assert first != names.snapshot_name(meta, other)


@settings(max_examples=150)
@given(name=dns_name)
def test_derived_names_valid(name: str) -> None:
    image = names.image_name(None, name)
    pool = names.pool_name(None, name)
    assert names.is_valid_compute_name(image), image
    assert names.is_valid_pool_name(pool), pool
    if names.is_valid_compute_name(name):
        assert image == name


@settings(max_examples=100)
@given(a=dns_name, b=dns_name)
def test_long_names_stay_distinct(a: str, b: str) -> None:
    if a != b:
        assert names.compute_name(a) != names.compute_name(b)
