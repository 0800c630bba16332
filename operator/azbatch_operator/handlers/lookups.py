"""Reads every object of a kind makes alike (a Batch account, a shared image), made once.

When a thousand BatchPools on one account and one image are applied at once, each daemon used to
GET the same account and image: thousands of identical reads that spend the subscription's ARM
read budget (bucket 250, refill 25/s) before a single pool is created. Here concurrent lookups of
one key wait for a single request, and a found resource is reused for a short time. Only found
resources are kept: a 404 is asked again, so fixing a missing account or image heals at once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

Json = dict[str, Any]


class SharedLookups:
    def __init__(self) -> None:
        self._found: dict[str, tuple[float, Json]] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def get(self, key: str, ttl: float, fetch: Callable[[], Awaitable[Json | None]]) -> Json | None:
        """The cached value of `key` if younger than `ttl` seconds, else `fetch()` (one at a time)."""
        key = key.lower()
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            hit = self._found.get(key)
            if hit is not None and time.monotonic() - hit[0] < ttl:
                return hit[1]
            value = await fetch()
            if value is None:
                self._found.pop(key, None)
            else:
                self._found[key] = (time.monotonic(), value)
            return value

    def forget(self, key: str) -> None:
        self._found.pop(key.lower(), None)
