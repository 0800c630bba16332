"""Pool reads for BatchPools: one pool listing per Batch account, shared by all its pools.

Every pool's reconcile asks :class:`PoolListings` for its pool; concurrent asks wait for one
``Pool_ListByBatchAccount`` (all pages), and ``reconcile/listing.py`` decides when a listing is
young enough, when a pool needs a fresh read after its own write, and when a single GET is
cheaper.  A new listing also wakes the pools it shows changed (an out-of-band resize, a pool
deleted in Azure), so a steady pool corrects drift without polling Azure itself; ``keep_fresh``
lists the accounts steady pools read from once per listing age (``reconcile/listing.py``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from azbatch_operator.azure.calls import AzureCallError
from azbatch_operator.azure.resources import Resources
from azbatch_operator.reconcile import arm_ids, listing

Json = listing.Json
logger = logging.getLogger(__name__)


class PoolListings:
    def __init__(
        self,
        resources: Resources,
        on_changed: Callable[[tuple[str, str]], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        wake_slower_than: float = 0.0,
    ) -> None:
        self.resources = resources
        self.clock = clock
        #: Only readers that accept listings older than this are woken by a change: the others
        #: (changing pools, on the fast poll) read again soon anyway, and waking each of them on
        #: every listing would multiply their passes while many pools converge.
        self.wake_slower_than = wake_slower_than
        #: Called with the (namespace, name) of the BatchPool reading each pool a new listing shows
        #: changed.
        self.on_changed = on_changed
        self._readers: dict[str, tuple[tuple[str, str], float]] = {}
        self._listings: dict[str, listing.Listing] = {}
        self._written: dict[str, float] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        #: When the drift timer last tried to list each account.
        self._tried: dict[str, float] = {}

    async def get(self, pool_id: str, age: float, reader: tuple[str, str] | None = None) -> Json | None:
        """The pool as ARM shows it (None: it does not exist), from a listing at most ``age`` old.
        ``reader`` (the BatchPool's namespace and name) is woken when a later listing shows the
        pool changed."""
        if reader is not None:
            self.reading(pool_id, reader, age)
        rid = arm_ids.parse(pool_id)
        account, name = str(rid.parent).lower(), rid.names[-1].lower()
        # Age is counted from the ask, not from the lock: a listing that started while this read
        # waited for it is as fresh as this read needs, however long its pages took.
        asked = self.clock()
        async with self._locks.setdefault(account, asyncio.Lock()):
            choice = listing.choose(
                self._listings.get(account), asked, age, self._written.get(pool_id.lower())
            )
            if choice is listing.Read.GET:
                return await self.resources.get(pool_id)
            if choice is listing.Read.LIST:
                await self._refresh(account)
            return self._listings[account].pools.get(name)

    async def _refresh(self, account: str) -> None:
        started = self.clock()
        pages = await self.resources.list_pools(account)
        found = {str(p.get("name", "")).lower(): p for page in pages for p in page}
        new = listing.Listing(started, found, max(1, len(pages)))
        before = self._listings.get(account)
        self._listings[account] = new
        self._written = {k: v for k, v in self._written.items() if v >= started}
        if self.on_changed is not None:
            for name in sorted(listing.changed(before, new)):
                reader = self._readers.get(f"{account}/pools/{name}")
                if reader is not None and reader[1] > self.wake_slower_than:
                    self.on_changed(reader[0])

    def steady_accounts(self) -> list[str]:
        """Accounts with a pool whose reader accepts listings older than the fast poll."""
        return sorted(
            {
                str(arm_ids.parse(pid).parent).lower()
                for pid, (_, age) in self._readers.items()
                if age > self.wake_slower_than
            }
        )

    def _last_listed(self) -> dict[str, float]:
        """When each account was last listed, or last tried by the timer (a failure waits too)."""
        last = {a: lst.started for a, lst in self._listings.items()}
        for account, tried in self._tried.items():
            last[account] = max(last.get(account, tried), tried)
        return last

    async def keep_fresh(self, interval: float, may_read: Callable[[], bool]) -> None:
        """Run until cancelled: list each account steady pools read from once its newest listing is
        ``interval`` old; the listing wakes the pools it shows changed.  A failed listing is tried
        again an interval later (the pools' own reads go on meanwhile)."""
        while True:
            wait = listing.next_due(self._last_listed(), self.steady_accounts(), self.clock(), interval)
            await asyncio.sleep(max(0.05, wait))
            if not may_read():
                continue
            for account in listing.due(self._last_listed(), self.steady_accounts(), self.clock(), interval):
                async with self._locks.setdefault(account, asyncio.Lock()):
                    if not listing.due(self._last_listed(), [account], self.clock(), interval):
                        continue  # a pool's read listed it while this waited for the lock
                    self._tried[account] = self.clock()
                    try:
                        await self._refresh(account)
                    except AzureCallError as exc:
                        logger.warning("listing the pools of %s failed: %s", account, exc)

    def reading(self, pool_id: str, reader: tuple[str, str], age: float) -> None:
        """The BatchPool ``reader`` will next read this pool from a listing up to ``age`` old. Said
        by a pass that plans its next wake, not only by the read itself: a pool that has just gone
        steady is then woken by a listing that shows it changed, and its account is listed by the
        drift timer, from this pass on rather than from its first slow read."""
        self._readers[pool_id.lower()] = (reader, age)

    def forget(self, pool_id: str) -> None:
        """The BatchPool reading this pool is gone: wake nobody for it any more."""
        self._readers.pop(pool_id.lower(), None)

    def wrote(self, pool_id: str) -> None:
        """A write to the pool completed (or failed): its next read must come after it."""
        self._written[pool_id.lower()] = self.clock()
