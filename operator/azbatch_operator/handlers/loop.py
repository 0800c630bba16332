"""The per-object reconcile loop every kind shares.

Each object gets one kopf daemon: reconcile once, then sleep for as long as the planner asked,
waking early when the spec changes (a new `metadata.generation` in the live body kopf keeps up to
date from its watch: the kind's watch-event indexer signals the loop, see handlers/wakers.py), when a
dependency nudges it, or when kopf stops the daemon (deletion, operator shutdown). Sleeping costs
no API call and no CPU, so polling adapts without spending ARM budget.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

import kopf

from azbatch_operator import metrics
from azbatch_operator.handlers import guard, runtime
from azbatch_operator.handlers.wakers import Waker
from azbatch_operator.kube import ObjectGone
from azbatch_operator.reconcile import polling

#: How often a standby replica looks whether it leads now (no API call).
CHANGE_CHECK_SECONDS = 0.5
#: A new loop waits for kopf's finalizer (its watch event signals the loop); this only bounds a
#: missed signal.
FINALIZER_CHECK_SECONDS = 1.0


def body_changed(memo: kopf.Memo, kind: str, body: kopf.Body) -> None:
    """A watch event of the object: its loop looks at the new body (kopf has put it in place
    before it runs indexers)."""
    rt = runtime.installed(memo)
    if rt is not None:
        meta = body.get("metadata", {})
        rt.wakers.changed((kind, meta.get("namespace", ""), meta.get("name", "")))


async def _signal_or_stop(stopped: kopf.DaemonStopped, waker: Waker, timeout: float | None) -> None:
    """Return on the waker's signal, on a stop, or after ``timeout`` seconds."""
    signalled = asyncio.ensure_future(waker.signal.wait())
    stopping = asyncio.ensure_future(_stop(stopped, timeout))
    try:
        await asyncio.wait({signalled, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (signalled, stopping):
            task.cancel()


async def _stop(stopped: kopf.DaemonStopped, timeout: float | None) -> None:
    await stopped.wait(timeout)


async def sleep_until_change(
    stopped: kopf.DaemonStopped,
    body: kopf.Body,
    seconds: float | None,
    waker: Waker,
) -> None:
    """Sleep `seconds` (None: until a change), returning early on a change, a nudge or a stop."""
    generation = body.get("metadata", {}).get("generation")
    clock = asyncio.get_running_loop().time  # the event loop's clock: virtual time in tests
    deadline = None if seconds is None else clock() + max(0.0, seconds)
    while not stopped:
        if body.get("metadata", {}).get("generation") != generation or waker.nudged:
            break
        if body.get("metadata", {}).get("deletionTimestamp"):
            break
        remaining = None if deadline is None else deadline - clock()
        if remaining is not None and remaining <= 0:
            break
        waker.signal.clear()
        await _signal_or_stop(stopped, waker, remaining)
    waker.nudged = False
    waker.signal.clear()


async def run(
    kind: str,
    stopped: kopf.DaemonStopped,
    body: kopf.Body,
    logger: logging.Logger | kopf.Logger,
    reconcile_once: Callable[[], Awaitable[float | None]],
    on_unexpected: Callable[[BaseException], Awaitable[float]],
    memo: kopf.Memo,
) -> None:
    """Drive `reconcile_once` until the daemon is stopped.

    `reconcile_once` returns the seconds until it wants to run again (None: only on a change).
    Errors it did not turn into status are reported by `on_unexpected`, which returns a backoff.
    Each pass holds the object's guard (see handlers/guard.py): never at once with its finalizer,
    and every Azure write it sends is re-checked by the write gate.
    """
    namespace, name = body["metadata"]["namespace"], body["metadata"]["name"]
    rt = runtime.of(memo)
    while not rt.leading.is_set() and not stopped:
        # A standby replica watches (its indexes stay warm) but does not act.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(rt.leading.wait(), timeout=CHANGE_CHECK_SECONDS)
    # kopf spawns daemons in the same cycle that adds its finalizer: wait until the finalizer is
    # stored, so nothing is ever created in Azure for an object that could vanish without cleanup.
    key = (kind, namespace, name)
    wakers = rt.wakers
    waker = wakers.register(key)
    try:
        while rt.finalizer not in (body.get("metadata", {}).get("finalizers") or []) and not stopped:
            if body.get("metadata", {}).get("deletionTimestamp"):
                return
            waker.signal.clear()
            await _signal_or_stop(stopped, waker, FINALIZER_CHECK_SECONDS)
        while not stopped:
            if body.get("metadata", {}).get("deletionTimestamp"):
                return
            if not rt.leading.is_set():  # leadership lapsed: no new pass (the replica steps down)
                await stopped.wait(CHANGE_CHECK_SECONDS)
                continue
            delay: float | None
            started = time.monotonic()
            try:
                async with rt.slots, guard.reconcile_pass(memo, body, lambda: bool(stopped), rt.may_act):
                    if body.get("metadata", {}).get("deletionTimestamp"):
                        return  # deleted while this pass waited for a slot or for the finalizer
                    delay = await reconcile_once()
            except ObjectGone:
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # reported to status by on_unexpected
                logger.warning(f"reconcile failed: {exc}")
                metrics.RECONCILES.labels(kind, "error").inc()
                delay = await on_unexpected(exc)
            metrics.RECONCILE_SECONDS.labels(kind).observe(time.monotonic() - started)
            await sleep_until_change(stopped, body, polling.next_wake(delay, rt.settings, rt.rng), waker)
    finally:
        wakers.release(key, waker)
