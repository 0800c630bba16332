"""A client-side ARM request budget per subscription: token buckets for reads and writes.

ARM throttles per subscription and principal (reads: bucket 250, refill 25/s; writes and deletes:
200, 10/s). Without a budget of its own, a thousand objects applied at once each send their GETs,
most come back 429, and every object retries on its own: a thundering herd that spends more of the
budget on refused requests than on useful ones (measured: 30,000 429s for 1,000 pools). Here every
request first reserves a token; callers beyond the budget wait their turn (FIFO: reservations may
drive the bucket negative, and the wait is the time to pay that back), so the operator sends at
most what ARM allows and its objects share it fairly. A 429 that still arrives (another client on
the same subscription) empties the bucket for the Retry-After the server asked for.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

#: Seconds of refill a full bucket holds, as ARM's: reads 250 at 25/s, writes 200 at 10/s.
BURST_SECONDS = {"read": 10.0, "write": 20.0}


@dataclass
class TokenBucket:
    rate: float
    capacity: float
    tokens: float = field(init=False)
    stamp: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        self.tokens = self.capacity

    def _refill(self, now: float) -> None:
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now

    def reserve(self) -> float:
        """Take one token; returns how long the caller must wait before using it."""
        self._refill(time.monotonic())
        self.tokens -= 1
        return 0.0 if self.tokens >= 0 else -self.tokens / self.rate

    def pause(self, seconds: float) -> None:
        """The server refused: nothing more for `seconds` (plus whoever already waits)."""
        self._refill(time.monotonic())
        self.tokens = min(self.tokens, -seconds * self.rate)


class ArmBudget:
    """`await budget.take(subscription, "read" | "write")` before each ARM request."""

    def __init__(self, reads_per_second: float, writes_per_second: float) -> None:
        self._rates = {"read": reads_per_second, "write": writes_per_second}
        self._buckets: dict[tuple[str, str], TokenBucket] = {}

    def _bucket(self, subscription: str, kind: str) -> TokenBucket | None:
        rate = self._rates[kind]
        if rate <= 0:
            return None  # unlimited
        key = (subscription.lower(), kind)
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = TokenBucket(rate, max(1.0, rate * BURST_SECONDS[kind]))
        return bucket

    async def take(self, subscription: str, kind: str) -> None:
        bucket = self._bucket(subscription, kind)
        if bucket is not None:
            wait = bucket.reserve()
            if wait > 0:
                await asyncio.sleep(wait)

    def throttled(self, subscription: str, kind: str, retry_after: float | None) -> None:
        bucket = self._bucket(subscription, kind)
        if bucket is not None:
            bucket.pause(max(1.0, retry_after or 0.0))
