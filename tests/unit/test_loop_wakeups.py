"""A sleeping reconcile loop wakes on events, not by looking at its body (virtual time, looptime)."""

from __future__ import annotations

import asyncio
from typing import Any

import kopf
import pytest
from kopf._cogs.aiokits.aioenums import FlagSetter

from azbatch_operator.handlers.loop import sleep_until_change
from azbatch_operator.handlers.wakers import Wakers

pytestmark = [pytest.mark.unit, pytest.mark.looptime]

KEY = ("batchpools", "ns", "p")


def body(generation: int = 1, **meta: Any) -> tuple[dict[str, Any], kopf.Body]:
    raw: dict[str, Any] = {"metadata": {"namespace": "ns", "name": "p", "generation": generation, **meta}}
    return raw, kopf.Body(raw)


async def slept(coro: Any) -> float:
    clock = asyncio.get_running_loop().time
    start = clock()
    await coro
    return clock() - start


async def test_sleeps_the_planned_time_through_events_that_change_no_spec() -> None:
    stop: FlagSetter[Any] = FlagSetter()
    wakers = Wakers()
    waker = wakers.register(KEY)
    raw, live = body()
    task = asyncio.ensure_future(slept(sleep_until_change(stop.async_waiter, live, 600, waker)))
    for _ in range(5):  # status writes: watch events whose generation is unchanged
        await asyncio.sleep(60)
        raw["metadata"]["resourceVersion"] = str(_)
        wakers.changed(KEY)
    assert await task == pytest.approx(600)


async def test_a_spec_change_wakes_it_at_once() -> None:
    stop: FlagSetter[Any] = FlagSetter()
    wakers = Wakers()
    waker = wakers.register(KEY)
    raw, live = body()
    task = asyncio.ensure_future(slept(sleep_until_change(stop.async_waiter, live, None, waker)))
    await asyncio.sleep(3600)
    assert not task.done()  # None: only a change ends it
    raw["metadata"]["generation"] = 2
    wakers.changed(KEY)
    assert await task == pytest.approx(3600)


async def test_deletion_nudge_and_stop_each_wake_it() -> None:
    stop: FlagSetter[Any] = FlagSetter()
    wakers = Wakers()
    waker = wakers.register(KEY)
    raw, live = body()
    task = asyncio.ensure_future(slept(sleep_until_change(stop.async_waiter, live, 600, waker)))
    await asyncio.sleep(10)
    raw["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    wakers.changed(KEY)
    assert await task == pytest.approx(10)

    raw, live = body()
    task = asyncio.ensure_future(slept(sleep_until_change(stop.async_waiter, live, 600, waker)))
    await asyncio.sleep(20)
    wakers.nudge(KEY)
    assert await task == pytest.approx(20)
    assert not waker.nudged
    assert not waker.signal.is_set()

    task = asyncio.ensure_future(slept(sleep_until_change(stop.async_waiter, live, 600, waker)))
    await asyncio.sleep(30)
    stop.set()
    assert await task == pytest.approx(30)


async def test_a_nudge_during_the_pass_ends_the_next_sleep_at_once() -> None:
    stop: FlagSetter[Any] = FlagSetter()
    wakers = Wakers()
    waker = wakers.register(KEY)
    wakers.nudge(KEY)  # e.g. an image became Ready while this pool reconciled
    _, live = body()
    assert await slept(sleep_until_change(stop.async_waiter, live, 600, waker)) == 0


def test_a_released_waker_is_not_nudged_and_a_new_loop_gets_its_own() -> None:
    wakers = Wakers()
    first = wakers.register(KEY)
    wakers.release(KEY, first)
    wakers.nudge(KEY)
    assert not first.nudged
    second = wakers.register(KEY)
    wakers.release(KEY, first)  # a stale release leaves the new loop's waker in place
    wakers.nudge(KEY)
    assert second.nudged


async def test_nudges_asked_in_a_burst_wake_each_object_once_after_the_burst() -> None:
    wakers = Wakers()
    a, b, c = (("batchpools", "ns", n) for n in "abc")
    woken = {k: wakers.register(k) for k in (a, b, c)}
    wakers.nudge_when_quiet("sharers:img", [a], 5)
    await asyncio.sleep(4)
    wakers.nudge_when_quiet("sharers:img", [b], 5)  # a newcomer within the quiet time
    await asyncio.sleep(4)
    assert not any(w.nudged for w in woken.values())
    await asyncio.sleep(1.5)
    assert woken[a].nudged
    assert woken[b].nudged
    assert not woken[c].nudged
    woken[a].nudged = False
    await asyncio.sleep(60)
    assert not woken[a].nudged  # fired once
