"""One node-counts listing per account serves the pools that asked for it, however long it takes."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from azbatch_operator.handlers.node_counts import NodeCountsBatcher
from azbatch_operator.reconcile import node_health
from azbatch_operator.reconcile.resize import PoolObservation

pytestmark = pytest.mark.unit
ENDPOINT = "https://a.westeurope.batch.azure.com"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class SlowDataPlane:
    """Account_ListPoolNodeCounts whose pages take ``seconds`` of the clock."""

    def __init__(self, clock: Clock, seconds: float) -> None:
        self.clock, self.seconds, self.listings = clock, seconds, 0

    async def pool_node_counts(self, endpoint: str) -> dict[str, Any]:
        self.listings += 1
        await asyncio.sleep(0)
        self.clock.now += self.seconds
        return {"p": {"poolId": "p", "dedicated": {"idle": 1, "total": 1}}}


async def test_callers_waiting_for_a_slow_listing_are_served_by_it() -> None:
    clock = Clock()
    dp = SlowDataPlane(clock, seconds=90)
    batcher = NodeCountsBatcher(dp, 60, clock)  # type: ignore[arg-type]
    snaps = await asyncio.gather(*(batcher.get(ENDPOINT) for _ in range(30)))
    assert {s.counts["p"]["dedicated"]["idle"] for s in snaps if s.counts} == {1}
    assert dp.listings == 1
    await batcher.get(ENDPOINT.upper())  # asked 90 s after that listing started: a new one
    assert dp.listings == 2


async def test_a_listing_younger_than_the_age_is_reused() -> None:
    clock = Clock()
    dp = SlowDataPlane(clock, seconds=1)
    batcher = NodeCountsBatcher(dp, 60, clock)  # type: ignore[arg-type]
    await batcher.get(ENDPOINT)
    clock.now += 58
    await batcher.get(ENDPOINT)
    assert dp.listings == 1


@pytest.mark.parametrize(
    ("state", "dedicated", "low", "expected"),
    [
        ("Steady", 0, 0, False),
        ("Steady", 1, 0, True),
        ("Steady", 0, 3, True),
        ("Resizing", 0, 0, True),
        ("Stopping", 0, 0, True),
    ],
)
def test_only_a_steady_pool_with_no_node_needs_no_counts(
    state: str, dedicated: int, low: int, expected: bool
) -> None:
    obs = PoolObservation(state, dedicated, low, 0, 0)
    assert node_health.has_nodes(obs) is expected


async def test_since_asks_for_a_listing_that_started_then_or_later() -> None:
    clock = Clock()
    dp = SlowDataPlane(clock, seconds=1)
    batcher = NodeCountsBatcher(dp, 60, clock)  # type: ignore[arg-type]
    first = await batcher.get(ENDPOINT)
    clock.now += 5
    began = clock.now
    assert await batcher.get(ENDPOINT) is first  # young enough
    newer = await batcher.get(ENDPOINT, since=began)
    assert dp.listings == 2
    assert newer.fetched >= began
    assert await batcher.get(ENDPOINT, since=began) is newer  # one newer listing serves every asker


def test_counts_lag_when_they_miss_nodes_arm_shows() -> None:
    steady = PoolObservation("Steady", 2, 1, 2, 1)
    assert node_health.lags(steady, None)
    assert node_health.lags(steady, {"dedicated": {"total": 2}})
    assert not node_health.lags(steady, {"dedicated": {"total": 2}, "lowPriority": {"total": 1}})
    assert not node_health.lags(PoolObservation("Steady", 0, 0, 0, 0), None)
