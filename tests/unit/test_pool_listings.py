"""Batched pool reads: one account listing feeds every pool, pages, read-your-writes, drift wakes."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from azbatch_operator.azure.calls import AzureCallError
from azbatch_operator.handlers.pool_listings import PoolListings
from azbatch_operator.reconcile import errors, listing
from azbatch_operator.reconcile.listing import Listing, Read
from azbatch_operator.settings import Settings

pytestmark = pytest.mark.unit

ACCOUNT = "/subscriptions/s/resourceGroups/g/providers/Microsoft.Batch/batchAccounts/a"
OTHER = "/subscriptions/s/resourceGroups/g/providers/Microsoft.Batch/batchAccounts/b"


def pool_id(name: str, account: str = ACCOUNT) -> str:
    return f"{account}/pools/{name}"


class FakeResources:
    """Pools by account, served in pages of ``page_size``; counts every request as ARM would."""

    def __init__(self, page_size: int = 1000) -> None:
        self.pools: dict[str, dict[str, dict[str, Any]]] = {}
        self.page_size = page_size
        self.list_pages = 0
        self.gets: list[str] = []

    def put(self, name: str, etag: str = "1", account: str = ACCOUNT) -> None:
        self.pools.setdefault(account.lower(), {})[name] = {"name": name, "etag": etag, "properties": {}}

    def drop(self, name: str, account: str = ACCOUNT) -> None:
        self.pools[account.lower()].pop(name)

    async def list_pools(self, account_id: str) -> list[list[dict[str, Any]]]:
        found = list(self.pools.get(account_id.lower(), {}).values())
        pages = [found[i : i + self.page_size] for i in range(0, len(found), self.page_size)] or [[]]
        self.list_pages += len(pages)
        return pages

    async def get(self, resource_id: str) -> dict[str, Any] | None:
        self.gets.append(resource_id)
        account, _, name = resource_id.lower().rpartition("/pools/")
        return self.pools.get(account, {}).get(name)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def listings(res: FakeResources, clock: Clock, woken: list[tuple[str, str]] | None = None) -> PoolListings:
    callback = woken.append if woken is not None else None
    return PoolListings(res, callback, clock, wake_slower_than=15)  # type: ignore[arg-type]


async def test_one_listing_feeds_every_pool_of_the_account() -> None:
    res, clock = FakeResources(), Clock()
    for i in range(50):
        res.put(f"p{i}")
    pl = listings(res, clock)
    found = [await pl.get(pool_id(f"p{i}"), 60) for i in range(50)]
    assert [p["name"] for p in found if p] == [f"p{i}" for i in range(50)]
    assert res.list_pages == 1
    assert res.gets == []
    assert await pl.get(pool_id("missing"), 60) is None  # not in the listing: does not exist
    assert res.list_pages == 1
    res.put("x", account=OTHER)
    assert (await pl.get(pool_id("x", OTHER), 60) or {}).get("name") == "x"
    assert res.list_pages == 2  # one listing per account


async def test_a_listing_older_than_the_asked_age_is_fetched_again() -> None:
    res, clock = FakeResources(), Clock()
    res.put("p")
    pl = listings(res, clock)
    await pl.get(pool_id("p"), 60)
    clock.now += 59
    await pl.get(pool_id("p"), 60)
    assert res.list_pages == 1
    await pl.get(pool_id("p"), 15)  # a changing pool wants a younger one
    assert res.list_pages == 2


async def test_every_page_is_read_and_joined() -> None:
    res, clock = FakeResources(page_size=3), Clock()
    for i in range(7):
        res.put(f"p{i}")
    pl = listings(res, clock)
    assert (await pl.get(pool_id("p6"), 60) or {}).get("name") == "p6"
    assert res.list_pages == 3
    for i in range(7):
        assert await pl.get(pool_id(f"p{i}"), 60) is not None
    assert res.list_pages == 3


async def test_after_its_own_write_a_pool_reads_fresh_data() -> None:
    res, clock = FakeResources(), Clock()
    res.put("p", etag="1")
    res.put("q", etag="1")
    pl = listings(res, clock)
    await pl.get(pool_id("p"), 60)
    clock.now += 1
    res.put("p", etag="2")
    pl.wrote(pool_id("p"))
    clock.now += 1
    assert (await pl.get(pool_id("q"), 60) or {}).get("etag") == "1"  # others keep the listing
    assert res.list_pages == 1
    assert (await pl.get(pool_id("p"), 60) or {}).get("etag") == "2"  # one page: list again
    assert res.list_pages == 2
    assert res.gets == []
    assert (await pl.get(pool_id("p"), 60) or {}).get("etag") == "2"
    assert res.list_pages == 2  # the new listing started after the write


async def test_after_a_write_on_a_many_page_account_the_pool_is_read_alone() -> None:
    res, clock = FakeResources(page_size=2), Clock()
    for name in "abcde":
        res.put(name)
    pl = listings(res, clock)
    await pl.get(pool_id("a"), 60)
    assert res.list_pages == 3
    clock.now += 1
    res.put("a", etag="2")
    pl.wrote(pool_id("a"))
    clock.now += 1
    assert (await pl.get(pool_id("a"), 60) or {}).get("etag") == "2"
    assert res.gets == [pool_id("a")]
    assert res.list_pages == 3


async def test_a_new_listing_wakes_the_pools_it_shows_changed() -> None:
    res, clock = FakeResources(), Clock()
    for name in "abc":
        res.put(name)
    woken: list[tuple[str, str]] = []
    pl = listings(res, clock, woken)
    for name in "abc":
        await pl.get(pool_id(name), 60, ("ns", name))
    assert woken == []
    res.put("b", etag="2")  # resized out of band
    res.drop("c")  # deleted in Azure
    clock.now += 61
    await pl.get(pool_id("a"), 60, ("ns", "a"))
    assert woken == [("ns", "b"), ("ns", "c")]
    pl.forget(pool_id("b"))
    res.put("b", etag="3")
    clock.now += 61
    await pl.get(pool_id("a"), 60, ("ns", "a"))
    assert woken == [("ns", "b"), ("ns", "c")]


async def test_a_changing_pool_is_not_woken_by_listings_it_polls_fast_anyway() -> None:
    res, clock = FakeResources(), Clock()
    res.put("steady")
    res.put("resizing")
    woken: list[tuple[str, str]] = []
    pl = listings(res, clock, woken)
    await pl.get(pool_id("steady"), 120, ("ns", "steady"))
    await pl.get(pool_id("resizing"), 15, ("ns", "resizing"))  # on the fast poll
    res.put("steady", etag="2")
    res.put("resizing", etag="2")
    clock.now += 16
    await pl.get(pool_id("resizing"), 15, ("ns", "resizing"))
    assert woken == [("ns", "steady")]


def test_max_age_fast_while_changing_listing_age_when_steady() -> None:
    s = Settings(poll_fast_seconds=15, poll_slow_seconds=600)
    assert listing.max_age(15, s) == 15
    assert listing.max_age(599.9, s) == 15
    assert listing.max_age(None, s) == 120  # 0 = eight fast polls
    assert listing.max_age(600, s) == 120
    assert listing.max_age(None, Settings(poll_fast_seconds=15, poll_slow_seconds=60)) == 60
    assert listing.max_age(None, Settings(pool_list_max_age_seconds=90)) == 90


@given(
    started=st.floats(0, 1000),
    elapsed=st.floats(0, 1000),
    age=st.floats(0.1, 1000),
    written=st.one_of(st.none(), st.floats(0, 2000)),
    pages=st.integers(1, 5),
)
def test_choose_never_serves_stale_or_pre_write_data(
    started: float, elapsed: float, age: float, written: float | None, pages: int
) -> None:
    current = Listing(started, {}, pages)
    now = started + elapsed
    choice = listing.choose(current, now, age, written)
    assert isinstance(choice, Read)
    if choice is Read.USE:
        assert now - started < age
        assert written is None or written < started
    if now - started >= age:
        assert choice is Read.LIST
    if choice is Read.GET:
        assert pages > 1
    assert listing.choose(None, now, age, written) is Read.LIST


def test_changed_compares_bodies_and_membership() -> None:
    a = Listing(0, {"p": {"etag": "1"}, "q": {"etag": "1"}, "s": {"etag": "1", "n": 1}})
    b = Listing(1, {"p": {"etag": "1"}, "q": {"etag": "2"}, "r": {"etag": "1"}, "s": {"etag": "1", "n": 2}})
    assert listing.changed(a, b) == {"q", "r", "s"}  # s: nodes came without a new ETag
    assert listing.changed(b, Listing(2, {})) == {"p", "q", "r", "s"}
    assert listing.changed(None, b) == set()


# --------------------------------------------------------------------------- drift timer, virtual time
class FailingResources(FakeResources):
    def __init__(self) -> None:
        super().__init__()
        self.attempts = 0

    async def list_pools(self, account_id: str) -> list[list[dict[str, Any]]]:
        self.attempts += 1
        raise AzureCallError("Pool_ListByBatchAccount", errors.classify(503, "ServerBusy", "busy"))


@pytest.mark.looptime
async def test_the_timer_lists_steady_accounts_once_per_interval_and_wakes_drifted_pools() -> None:
    res, woken = FakeResources(), []
    for name in ("steady", "quiet"):
        res.put(name)
    res.put("busy", account=OTHER)
    pl = PoolListings(res, woken.append, asyncio.get_running_loop().time, wake_slower_than=15)  # type: ignore[arg-type]
    await pl.get(pool_id("steady"), 120, ("ns", "steady"))
    await pl.get(pool_id("quiet"), 120, ("ns", "quiet"))
    await pl.get(pool_id("busy", OTHER), 15, ("ns", "busy"))  # changing: reads on its own fast poll
    leading = [True]
    timer = asyncio.create_task(pl.keep_fresh(120, lambda: leading[0]))
    try:
        res.put("steady", etag="2")  # resized out of band
        await asyncio.sleep(121)
        assert woken == [("ns", "steady")], "the drifted pool is woken, the unchanged one is not"
        before = res.list_pages
        await asyncio.sleep(1200)
        # One listing of the steady account per interval; the other account is never listed here.
        assert res.list_pages - before == 10
        leading[0] = False  # a replica that lost its Lease reads nothing
        before = res.list_pages
        await asyncio.sleep(600)
        assert res.list_pages == before
    finally:
        timer.cancel()


@pytest.mark.looptime
async def test_a_failing_listing_is_tried_again_an_interval_later_not_in_a_loop() -> None:
    res = FailingResources()
    pl = PoolListings(res, None, asyncio.get_running_loop().time, wake_slower_than=15)  # type: ignore[arg-type]
    pl._readers[pool_id("p").lower()] = (("ns", "p"), 120.0)
    timer = asyncio.create_task(pl.keep_fresh(120, lambda: True))
    try:
        await asyncio.sleep(601)
        assert res.attempts == 6  # at 0, 120, ..., 600
    finally:
        timer.cancel()


def test_due_and_next_due() -> None:
    last = {"a": 100.0, "b": 50.0}
    assert listing.due(last, ["a", "b", "c"], 170.0, 120.0) == ["b", "c"]
    assert listing.next_due(last, ["a"], 170.0, 120.0) == pytest.approx(50.0)
    assert listing.next_due(last, ["a", "c"], 170.0, 120.0) == 0.0
    assert listing.next_due(last, [], 170.0, 120.0) == 120.0


def test_a_pool_written_after_a_fresh_listing_reads_alone_only_when_the_listing_has_pages() -> None:
    # One page: listing again costs what the GET would, and refreshes every pool of the account.
    assert listing.choose(Listing(10.0, {}), 12.0, 60.0, 11.0) is Read.LIST
    assert listing.choose(Listing(10.0, {}, 2), 12.0, 60.0, 11.0) is Read.GET
    assert listing.choose(Listing(10.0, {}, 2), 12.0, 60.0, 9.0) is Read.USE


class SlowResources(FakeResources):
    """A listing whose pages take ``seconds`` of the clock: longer than the age the pools ask for."""

    def __init__(self, clock: Clock, seconds: float) -> None:
        super().__init__()
        self.clock, self.seconds = clock, seconds

    async def list_pools(self, account_id: str) -> list[list[dict[str, Any]]]:
        pages = await super().list_pools(account_id)
        await asyncio.sleep(0)
        self.clock.now += self.seconds
        return pages


async def test_reads_that_waited_for_a_slow_listing_are_served_by_it() -> None:
    """Each waiting pool used to find the listing older than its age when its turn came, and
    list the account again: one listing per pool, in series."""
    clock = Clock()
    res = SlowResources(clock, seconds=100)
    for i in range(20):
        res.put(f"p{i}")
    pl = listings(res, clock)
    found = await asyncio.gather(*(pl.get(pool_id(f"p{i}"), 15) for i in range(20)))
    assert [p["name"] for p in found if p] == [f"p{i}" for i in range(20)]
    assert res.list_pages == 1
    await pl.get(pool_id("p0"), 15)  # asked after that listing was 100 s old: a new one
    assert res.list_pages == 2


@pytest.mark.looptime
async def test_a_pool_that_goes_steady_is_listed_by_the_timer_from_that_pass_on() -> None:
    """Its last read was a fast-poll one; the pass that plans its slow wake says so, and the drift
    timer lists its account and wakes it on a change, without waiting for its next own read."""
    res, woken = FakeResources(), []
    res.put("p")
    pl = PoolListings(res, woken.append, asyncio.get_running_loop().time, wake_slower_than=15)  # type: ignore[arg-type]
    await pl.get(pool_id("p"), 15, ("ns", "p"))  # converging: the fast-poll age
    assert pl.steady_accounts() == []
    pl.reading(pool_id("p"), ("ns", "p"), 120)  # the pass ended Ready: next wake at the slow poll
    assert pl.steady_accounts() == [ACCOUNT.lower()]
    timer = asyncio.create_task(pl.keep_fresh(120, lambda: True))
    try:
        res.put("p", etag="2")
        await asyncio.sleep(121)
        assert woken == [("ns", "p")]
    finally:
        timer.cancel()
