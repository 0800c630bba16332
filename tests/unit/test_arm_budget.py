"""The operator's client-side ARM budget and its shared lookups (handlers/lookups.py)."""

from __future__ import annotations

import asyncio
import time

import pytest

from azbatch_operator.azure.budget import ArmBudget, TokenBucket
from azbatch_operator.handlers.lookups import SharedLookups


def test_bucket_gives_its_burst_then_paces_callers_in_order() -> None:
    bucket = TokenBucket(rate=10.0, capacity=3.0)
    waits = [bucket.reserve() for _ in range(6)]
    assert waits[:3] == [0.0, 0.0, 0.0]
    # Each later caller waits one refill interval (0.1 s) more than the one before it.
    assert waits[3] == pytest.approx(0.1, abs=0.01)
    assert waits[4] == pytest.approx(0.2, abs=0.01)
    assert waits[5] == pytest.approx(0.3, abs=0.01)


def test_a_429_pauses_the_bucket_for_the_retry_after() -> None:
    bucket = TokenBucket(rate=10.0, capacity=100.0)
    bucket.pause(2.0)
    assert bucket.reserve() == pytest.approx(2.1, abs=0.02)


def test_budget_is_per_subscription_and_kind_and_zero_is_unlimited() -> None:
    budget = ArmBudget(reads_per_second=1000.0, writes_per_second=0)

    async def scenario() -> float:
        start = time.monotonic()
        await asyncio.gather(*(budget.take("SUB", "write") for _ in range(5000)))
        await asyncio.gather(*(budget.take("sub-a", "read") for _ in range(100)))
        await asyncio.gather(*(budget.take("sub-b", "read") for _ in range(100)))
        return time.monotonic() - start

    assert asyncio.run(scenario()) < 1.0
    assert budget._bucket("Sub-A", "read") is budget._bucket("sub-a", "read")
    assert budget._bucket("sub-a", "read") is not budget._bucket("sub-b", "read")
    assert budget._bucket("sub", "write") is None


def test_concurrent_lookups_share_one_request_and_misses_are_not_kept() -> None:
    calls: list[str] = []

    async def fetch_found() -> dict[str, str]:
        calls.append("found")
        await asyncio.sleep(0.01)
        return {"id": "x"}

    async def fetch_missing() -> None:
        calls.append("missing")

    async def scenario() -> None:
        lookups = SharedLookups()
        results = await asyncio.gather(*(lookups.get("Key", 60, fetch_found) for _ in range(50)))
        assert all(r == {"id": "x"} for r in results)
        assert await lookups.get("key", 0, fetch_found) == {"id": "x"}  # expired: asked again
        assert await lookups.get("gone", 60, fetch_missing) is None
        assert await lookups.get("gone", 60, fetch_missing) is None

    asyncio.run(scenario())
    assert calls == ["found", "found", "missing", "missing"]
