"""Contract:: leader election on a coordination.k8s.io Lease with client-go's semantics.

kopf's own peering pauses operators of lower priority, but replicas of one Deployment share a
priority, so only a Lease gives "exactly one acts". The rules, as in client-go's leaderelection:

- Expiry is judged on this replica's monotonic clock, from the moment it last saw the Lease's
  record change; another machine's `renewTime` is never compared with the local wall clock, so
  replicas whose clocks disagree still agree on who leads.
- A leader holds leadership for `renew_deadline` after it *sent* its last successful renewal.
  When that passes without a renewal, `Leadership.is_set()` turns false at once (it reads the
  clock itself, so a write that wakes up before the election task does is still refused), then
  the replica steps down. `renew_deadline < lease_seconds`, so it has stopped acting before any
  standby may take over.
- Every request has a timeout that ends before the renew deadline; the Lease has its own
  connection pool; updates carry `resourceVersion` (a lost race is a 409, never two holders).
- The election task is supervised: an unexpected error is logged and the loop restarts with
  backoff; `healthy()` (the liveness probe) is false when it has not completed a round lately.

The decisions are pure functions in `election.py` (record, observation, clocks in, answer out), so
they are unit-tested with virtual time; this module is the I/O around them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import secrets
import socket
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp

from azbatch_operator.election import Observation, Record, Timing, desired_spec, may_take, micro_time, observe
from azbatch_operator.kube import KubeApi

logger = logging.getLogger(__name__)

LEASE_NAME = "azbatch-operator-leader"
#: Standbys retry at a random point of [1, 1 + JITTER] retry periods, as client-go's JitterFactor.
JITTER = 0.2


def identity() -> str:
    """Pod name (or host), a random part, and the pid: a restarted process never passes for its
    predecessor, and `kubectl get lease` still shows which pod leads."""
    base = os.environ.get("POD_NAME") or socket.gethostname()
    return f"{base}-{secrets.token_hex(3)}-{os.getpid()}"


class Leadership(asyncio.Event):
    """Set while this replica holds a Lease it renewed within its renew deadline.

    `is_set()` also checks the deadline on the monotonic clock, so it turns false on time even if
    the election task has not run yet (a process that was paused, a busy event loop).
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self._clock = clock
        self._until = -math.inf

    def extend(self, until: float) -> None:
        self._until = until
        super().set()

    def set(self) -> None:
        """Leading with no deadline (no election: a single replica always acts)."""
        self._until = math.inf
        super().set()

    def revoke(self) -> None:
        self._until = -math.inf
        self.clear()

    @property
    def until(self) -> float:
        return self._until

    def is_set(self) -> bool:
        return super().is_set() and self._clock() < self._until

    def flagged(self) -> bool:
        """The flag alone: still true between a missed deadline and the election task noticing."""
        return super().is_set()


class LeaderElector:
    """Acquires and renews the Lease; calls `on_lost` after it stopped acting on a lost Lease."""

    def __init__(
        self,
        api: KubeApi,
        namespace: str,
        timing: Timing,
        *,
        me: str | None = None,
        leadership: Leadership | None = None,
        on_lost: Callable[[], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_offset: float = 0.0,
    ) -> None:
        self._api = api
        self._path = f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases"
        self.namespace = namespace
        self.timing = timing
        self.me = me or identity()
        self.leadership = leadership or Leadership(clock)
        self._on_lost = on_lost
        self._clock = clock
        #: Tests shift this replica's wall clock (renewTime/acquireTime) to show it does not matter.
        self._wall_offset = timedelta(seconds=wall_offset)
        self._observed: Observation | None = None
        self._failures = 0
        self.heartbeat = clock()
        self.restarts = 0
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    # ----------------------------------------------------------------- one round, client-go style
    def _timeout(self) -> float:
        timeout = self.timing.request_timeout
        if self.leadership.flagged():
            timeout = min(timeout, self.leadership.until - self._clock())
        return max(0.05, timeout)

    async def _call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        try:
            return await self._api.request(method, path, body, timeout=self._timeout())
        except (aiohttp.ClientError, TimeoutError, OSError):
            await self._api.reconnect()  # a fresh connection next time, not a half-open one
            raise

    async def try_acquire_or_renew(self) -> bool:
        """One attempt; True when this replica holds the Lease afterwards."""
        code, lease = await self._call("GET", f"{self._path}/{LEASE_NAME}")
        wall_now = datetime.now(UTC) + self._wall_offset
        if code == 404:
            body = self._body(desired_spec(None, self.me, wall_now, self.timing), None)
            code, created = await self._call("POST", self._path, body)
            if code == 201:
                self._observed = Observation(Record.from_lease(created), self._clock())
                return True
            self._note_refusal("create", code, created)
            return False
        if code != 200:
            self._note_refusal("read", code, lease)
            return False
        self._observed = observe(self._observed, Record.from_lease(lease), self._clock())
        if not may_take(self._observed, self.me, self._clock()):
            return False
        current = self._observed.record
        body = self._body(desired_spec(current, self.me, wall_now, self.timing), current.resource_version)
        code, updated = await self._call("PUT", f"{self._path}/{LEASE_NAME}", body)
        if code == 200:
            self._observed = Observation(Record.from_lease(updated), self._clock())
            return True
        if code != 409:  # 409: another replica won the race, or renewed first
            self._note_refusal("update", code, updated)
        return False

    def _body(self, spec: dict[str, Any], version: str | None) -> dict[str, Any]:
        meta: dict[str, Any] = {"name": LEASE_NAME, "namespace": self.namespace}
        if version:
            meta["resourceVersion"] = version
        return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": meta, "spec": spec}

    def _note_refusal(self, verb: str, code: int, answer: Any) -> None:
        message = answer.get("message") if isinstance(answer, dict) else str(answer)[:200]
        logger.warning("leader election: %s of Lease %s refused: %s %s", verb, LEASE_NAME, code, message)

    # ----------------------------------------------------------------------- the election loop
    async def run(self) -> None:
        """Acquire, then renew until the Lease is lost (then `on_lost`) or the task is cancelled."""
        standing_by_logged = False
        while not self._stopping:
            started = self._clock()
            try:
                ok = await self.try_acquire_or_renew()
                if self._failures:
                    logger.info("leader election: the apiserver answers again")
                self._failures = 0
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                ok = False
                self._failures += 1
                if self._failures == 1 or self._failures % 20 == 0:
                    logger.warning(
                        "leader election: Lease request failed (%d in a row): %r", self._failures, exc
                    )
            self.heartbeat = self._clock()
            was_leading = self.leadership.flagged()
            if ok:
                self.leadership.extend(started + self.timing.renew_deadline)
                if not was_leading:
                    logger.info(
                        "acquired leadership as %s (Lease %s/%s)", self.me, self.namespace, LEASE_NAME
                    )
            elif was_leading and self._clock() >= self.leadership.until:
                self.leadership.revoke()
                logger.error(
                    "lost leadership: Lease %s not renewed within %.1fs; stopped acting, stepping down",
                    LEASE_NAME,
                    self.timing.renew_deadline,
                )
                if self._on_lost is not None:
                    self._on_lost()
                return
            elif not was_leading and not standing_by_logged and self._observed is not None:
                logger.info("standing by: %s holds Lease %s", self._observed.record.holder, LEASE_NAME)
                standing_by_logged = True
            await asyncio.sleep(self._pause(started, ok))

    def _pause(self, started: float, ok: bool) -> float:
        now = self._clock()
        if self.leadership.flagged():
            # Next renewal one retry period after this one started; never sleep past the deadline
            # (at least a millisecond, so a deadline a rounding error away is not a busy loop).
            return max(0.001, min(started + self.timing.retry_period, self.leadership.until) - now)
        jitter = 1 + JITTER * secrets.randbelow(1000) / 1000
        return max(0.0, started + self.timing.retry_period * jitter - now)

    async def supervise(self, max_backoff: float = 30.0) -> None:
        """Run the loop forever; a bug in one round is logged and retried, never fatal."""
        backoff = self.timing.retry_period
        while not self._stopping:
            try:
                await self.run()
                return  # lost leadership (on_lost was called) or stopping
            except asyncio.CancelledError:
                raise
            except Exception:
                self.restarts += 1
                logger.exception("leader election crashed; restarting in %.1fs", backoff)
                # Leadership keeps its deadline meanwhile: is_set() turns false on time regardless.
                await asyncio.sleep(backoff)
                backoff = min(max_backoff, backoff * 2)

    def start(self) -> None:
        self._task = asyncio.create_task(self.supervise(), name="leader election")

    def healthy(self) -> bool:
        """For the liveness probe: the loop runs and has completed a round recently."""
        if self._task is None or self._task.done():
            return self._task is not None and self._stopping
        budget = 2 * self.timing.request_timeout + 3 * self.timing.retry_period + 5.0
        return self._clock() - self.heartbeat < budget

    async def stop(self) -> None:
        """Stop acting, stop the loop, and hand the Lease over at once if it is still ours."""
        self._stopping = True
        held = self.leadership.flagged()
        self.leadership.revoke()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        if held:
            await self.release()
        await self._api.close()

    async def release(self) -> None:
        """Empty holderIdentity, against the version we last wrote: never clobbers a new holder."""
        if self._observed is None or self._observed.record.holder != self.me:
            return
        current = self._observed.record
        spec = {
            "holderIdentity": "",
            "leaseDurationSeconds": 1,
            "acquireTime": current.acquire_time,
            "renewTime": micro_time(datetime.now(UTC) + self._wall_offset),
            "leaseTransitions": current.transitions,
        }
        try:
            code, _ = await self._api.request(
                "PUT",
                f"{self._path}/{LEASE_NAME}",
                self._body(spec, current.resource_version),
                timeout=self.timing.request_timeout,
            )
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            logger.warning("could not release Lease %s: %r", LEASE_NAME, exc)
            return
        if code == 200:
            logger.info("released Lease %s", LEASE_NAME)
