"""ARM-style request throttling: token buckets per (subscription, principal, kind), in real time."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from azuresim.errors import JSON

KINDS = ("reads", "writes", "deletes")


@dataclass
class Bucket:
    capacity: float
    refill: float
    tokens: float
    stamp: float

    def _update(self, now: float) -> None:
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.refill)
        self.stamp = now

    def take(self, now: float) -> tuple[bool, int, float]:
        """(allowed, remaining after this request, seconds until one token is available)."""
        self._update(now)
        if self.tokens >= 1:
            self.tokens -= 1
            return True, int(self.tokens), 0.0
        wait = (1 - self.tokens) / self.refill if self.refill > 0 else 3600.0
        return False, 0, wait


class Throttler:
    def __init__(self) -> None:
        self._buckets: dict[tuple[str, str, str], Bucket] = {}
        self._config_key: str = ""

    def reset(self) -> None:
        self._buckets.clear()

    def check(self, config: JSON, subscription: str, principal: str, kind: str) -> tuple[bool, int, int]:
        """(allowed, remaining, retry-after seconds). `kind` is reads | writes | deletes."""
        key_cfg = repr(sorted((k, repr(v)) for k, v in config.items()))
        if key_cfg != self._config_key:  # capacities changed (re-seed): start fresh buckets
            self._buckets.clear()
            self._config_key = key_cfg
        if not config.get("enabled", True):
            return True, int(_cfg(config, kind)[0]), 0
        now = time.monotonic()
        key = (subscription, principal, kind)
        bucket = self._buckets.get(key)
        if bucket is None:
            cap, refill = _cfg(config, kind)
            bucket = Bucket(capacity=cap, refill=refill, tokens=cap, stamp=now)
            self._buckets[key] = bucket
        ok, remaining, wait = bucket.take(now)
        return ok, remaining, max(1, math.ceil(wait))


def _cfg(config: JSON, kind: str) -> tuple[float, float]:
    section = config.get(kind) or {}
    defaults = {"reads": (250.0, 25.0), "writes": (200.0, 10.0), "deletes": (200.0, 10.0)}[kind]
    return float(section.get("capacity", defaults[0])), float(section.get("refillPerSecond", defaults[1]))
