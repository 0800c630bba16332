"""Which BatchPools hold a ManagedImage, and what the image reports and does about them
(reconcile/image_users.py)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from azbatch_operator.reconcile import conditions, image_users
from azbatch_operator.settings import Settings
from tests.unit.builders import NOW, RG

pytestmark = pytest.mark.unit

IMG = f"{RG}/providers/Microsoft.Compute/images/Img"
DEFINITION = f"{RG}/providers/Microsoft.Compute/galleries/g/images/Render"
VERSION = f"{DEFINITION}/Versions/1.0.0"
S = Settings()


def test_a_pool_holds_the_image_by_reference_or_by_any_id_its_status_carries() -> None:
    by_ref = {("ns", "img"): ["ns/by-ref"], ("ns", "other"): ["ns/not-this-one"]}
    by_id = {
        IMG.lower(): ["ns/by-image"],
        VERSION.lower(): ["other/by-version"],
        DEFINITION.lower(): ["ns/by-latest", "ns/by-ref"],
    }
    status = {"imageId": IMG, "galleryImageVersionId": VERSION}
    assert image_users.holders(by_ref, by_id, "ns", "img", status) == [
        "ns/by-image",
        "ns/by-latest",
        "ns/by-ref",
        "other/by-version",
    ]
    # Before anything is published only references hold it.
    assert image_users.holders(by_ref, by_id, "ns", "img", {}) == ["ns/by-ref"]
    assert image_users.holders(by_ref, by_id, "other-ns", "img", status) == sorted(
        {"ns/by-image", "ns/by-latest", "ns/by-ref", "other/by-version"}
    )


def test_the_ids_held_are_lower_case_and_the_definition_only_of_a_version() -> None:
    assert image_users.held_ids({"imageId": IMG}) == [IMG.lower()]
    assert image_users.held_ids({"galleryImageVersionId": VERSION}) == [VERSION.lower(), DEFINITION.lower()]
    # An id without a /versions/ segment names no definition.
    assert image_users.held_ids({"galleryImageVersionId": DEFINITION}) == [DEFINITION.lower()]
    assert image_users.held_ids({"imageId": None, "galleryImageVersionId": ""}) == []


@given(st.integers(min_value=0, max_value=2 * image_users.USED_BY_MAX))
def test_used_by_lists_the_first_pools_up_to_the_crd_maximum(count: int) -> None:
    pools = [f"ns-{i}/pool-{i}" for i in range(count)]
    refs = image_users.used_by(pools)
    assert len(refs) == min(count, image_users.USED_BY_MAX)
    assert refs == [{"namespace": f"ns-{i}", "name": f"pool-{i}"} for i in range(len(refs))]


def test_a_pool_name_keeps_everything_after_its_namespace() -> None:
    assert image_users.used_by(["ns/a/b"]) == [{"namespace": "ns", "name": "a/b"}]


def test_the_log_line_names_five_pools_then_how_many_more() -> None:
    five = [f"ns/p{i}" for i in range(5)]
    assert image_users.shown(five) == ", ".join(five)
    assert image_users.shown([*five, "ns/p5", "ns/p6"]) == ", ".join(five) + " and 2 more"
    assert image_users.shown([]) == ""


def test_pools_are_woken_only_when_the_image_becomes_ready() -> None:
    ready = conditions.ready(1, NOW)
    waiting = conditions.progressing(1, NOW, conditions.Reason.CREATING, "creating")
    assert image_users.became_ready(waiting, ready)
    assert image_users.became_ready([], ready)
    assert not image_users.became_ready(ready, ready)
    assert not image_users.became_ready(ready, waiting)
    assert not image_users.became_ready([], waiting)


def test_the_loop_comes_back_soon_while_the_users_change() -> None:
    users = [{"namespace": "ns", "name": "a"}]
    assert image_users.requeue_after(600.0, users, {"usedBy": users}, S) == 600.0
    assert image_users.requeue_after(None, users, {"usedBy": users}, S) is None
    assert image_users.requeue_after(600.0, users, {"usedBy": []}, S) == S.poll_fast_seconds
    assert image_users.requeue_after(None, [], {}, S) == S.poll_fast_seconds
    assert image_users.requeue_after(1.0, users, {}, S) == 1.0
