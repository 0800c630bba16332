"""When a pool's read is served by its account's pool listing, and what a new listing changed.

Every BatchPool on one Batch account is read from one ``Pool_ListByBatchAccount`` (paged by
``nextLink``): the ARM read cost grows with accounts and pages, not with pools.  A listing is reused
while it is young enough for the asking pool: a pool that is changing (a resize, a create in
flight) asks for one no older than the fast poll; a steady pool accepts one up to
``AZBATCH_POOL_LIST_MAX_AGE_SECONDS`` old (never older than the slow poll).  Read-your-writes: a
pool this operator wrote to is never served a listing that started before the write completed;
it gets a fresh listing, or its own GET when the listing has more than one page (one read instead
of many).

Drift: an account that steady pools read from is listed again once its newest listing is
``AZBATCH_POOL_LIST_MAX_AGE_SECONDS`` old, by a timer rather than by whichever pool wakes next, so
an out-of-band change (a resize in the portal, a pool deleted) is seen within that interval
whatever the account's pool count, for one read per account per interval.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from azbatch_operator.settings import Settings

Json = dict[str, Any]


class Read(enum.Enum):
    USE = "use"  # the listing answers
    LIST = "list"  # fetch a new listing of the account
    GET = "get"  # read this pool alone


@dataclass(frozen=True)
class Listing:
    """One account's pools, by lower-case pool name; ``started`` is when its first page was asked
    (monotonic seconds), so every write completed before then is in it."""

    started: float
    pools: Mapping[str, Json]
    pages: int = 1


def max_age(last_requeue: float | None, settings: Settings) -> float:
    """How old a listing a pool accepts: fast while it changes, the listing age when steady."""
    if last_requeue is not None and last_requeue < settings.poll_slow_seconds:
        return settings.poll_fast_seconds
    return min(settings.pool_list_age, settings.poll_slow_seconds)


def choose(listing: Listing | None, now: float, age: float, written_at: float | None) -> Read:
    """Serve from ``listing``, list again, or GET the one pool (see the module docstring)."""
    fresh = listing is not None and now - listing.started < age
    if listing is not None and fresh and (written_at is None or listing.started > written_at):
        return Read.USE
    if listing is not None and fresh and listing.pages > 1:
        return Read.GET  # only this pool needs newer data than the listing has
    return Read.LIST


def due(last: Mapping[str, float], accounts: Iterable[str], now: float, interval: float) -> list[str]:
    """The ``accounts`` last listed (or tried) ``interval`` ago or never; ``last`` holds when."""
    return sorted(a for a in set(accounts) if a not in last or now - last[a] >= interval)


def next_due(last: Mapping[str, float], accounts: Iterable[str], now: float, interval: float) -> float:
    """Seconds until the first of ``accounts`` is due (0 when one is due now, ``interval`` when
    there is none: a steady pool may register in the meantime)."""
    waits = [max(0.0, interval - (now - last[a])) if a in last else 0.0 for a in set(accounts)]
    return min(waits, default=interval)


def changed(before: Listing | None, after: Listing) -> set[str]:
    """Pool names whose body differs between two listings, or that appeared or vanished: a new
    ETag, and also what changes without one (node counts, allocation state)."""
    if before is None:
        return set()
    names = set(before.pools) | set(after.pools)
    return {name for name in names if before.pools.get(name) != after.pools.get(name)}
