"""The ownership decision: who may adopt, change or delete an Azure resource."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from azbatch_operator.reconcile import ownership
from azbatch_operator.reconcile.names import OWNER_TAG, UID_TAG, ObjectMeta, owner_tags
from azbatch_operator.reconcile.ownership import Kind

pytestmark = pytest.mark.unit

ME = ObjectMeta("team-a", "render", "uid-1")
uids = st.text(alphabet="abcdef0123456789-", min_size=1, max_size=36)
refs = st.from_regex(r"[a-z][a-z0-9-]{0,10}/[a-z][a-z0-9-]{0,10}", fullmatch=True)
other_tags = st.dictionaries(
    st.text(alphabet="abcdefghij-", min_size=1, max_size=8).filter(
        lambda k: k.lower() not in (OWNER_TAG, UID_TAG)
    ),
    st.text(max_size=8),
    max_size=4,
)


def cased(tags: dict[str, str], upper: bool) -> dict[str, str]:
    return {k.upper() if upper else k: v for k, v in tags.items()}


@given(other_tags, st.booleans())
def test_a_resource_stamped_with_our_uid_is_ours_whatever_else_it_carries(
    extra: dict[str, str], up: bool
) -> None:
    tags = {**extra, **cased(owner_tags(ME), up)}
    assert ownership.decide(tags, ME).kind is Kind.OURS


@given(other_tags)
def test_a_resource_without_ownership_tags_is_unowned(extra: dict[str, str]) -> None:
    assert ownership.decide(extra, ME).kind is Kind.UNOWNED
    assert ownership.decide(None, ME).kind is Kind.UNOWNED


@given(uids, refs, other_tags, st.booleans())
def test_any_other_uid_is_foreign_and_names_its_owner(
    uid: str, ref: str, extra: dict[str, str], up: bool
) -> None:
    """Even the same namespace/name: an earlier incarnation of this object is another object."""
    if uid == ME.uid:
        return
    tags = {**extra, **cased({OWNER_TAG: ref, UID_TAG: uid}, up)}
    owner = ownership.decide(tags, ME)
    assert owner.kind is Kind.FOREIGN
    assert owner.owner == ref
    assert owner.owner_uid == uid
    assert ref in owner.describe()
    assert uid in owner.describe()


@given(refs)
def test_an_owner_tag_without_uid_is_foreign_unless_it_names_this_object(ref: str) -> None:
    owner = ownership.decide({OWNER_TAG: ref}, ME)
    assert owner.kind is (Kind.OURS if ref == ME.ref else Kind.FOREIGN)


@given(other_tags, st.one_of(st.none(), st.sampled_from(["uid-1", "uid-2"])))
def test_pool_metadata_and_arm_tags_both_count(extra: dict[str, str], uid: str | None) -> None:
    pool = {
        "tags": extra,
        "properties": {"metadata": [] if uid is None else [{"name": UID_TAG, "value": uid}]},
    }
    kind = ownership.decide(ownership.pool_tags(pool), ME).kind
    expected = {None: Kind.UNOWNED, "uid-1": Kind.OURS, "uid-2": Kind.FOREIGN}[uid]
    assert kind is expected


@given(st.lists(st.tuples(st.text(min_size=1, max_size=8), st.text(max_size=8)), max_size=5))
def test_stamping_keeps_other_metadata_and_makes_the_pool_ours(entries: list[tuple[str, str]]) -> None:
    pool = {"properties": {"metadata": [{"name": k, "value": v} for k, v in entries]}}
    stamped = ownership.stamped_metadata(pool, ME)
    kept = [(e["name"], e["value"]) for e in stamped if e["name"].lower() not in (OWNER_TAG, UID_TAG)]
    assert kept == [(k, v) for k, v in entries if k.lower() not in (OWNER_TAG, UID_TAG)]
    restamped = {"properties": {"metadata": stamped}}
    assert ownership.decide(ownership.pool_tags(restamped), ME).kind is Kind.OURS
    # A second object looking at the stamped pool finds it owned by the first.
    other = ObjectMeta("team-b", "render", "uid-9")
    assert ownership.decide(ownership.pool_tags(restamped), other).kind is Kind.FOREIGN
