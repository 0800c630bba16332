"""Leader election: client-go's rules on virtual time (looptime), against an in-memory Lease store.

The store behaves like the apiserver for the calls the elector makes (404 before create, 409 on a
create race or a stale resourceVersion); faults are injected per replica (partitions, slow
answers, a bug). Every test reads time from the event loop, which looptime fast-forwards, so a
campaign of simulated minutes takes milliseconds.
"""

from __future__ import annotations

import asyncio
import copy
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from hypothesis import given
from hypothesis import strategies as st

from azbatch_operator.election import Observation, Record, Timing, desired_spec, may_take, observe
from azbatch_operator.leader import LEASE_NAME, LeaderElector, Leadership
from azbatch_operator.settings import Settings, SettingsError

TIMING = Timing(lease_seconds=3.0, renew_deadline=2.0, retry_period=0.4)


@dataclass
class LeaseStore:
    """The apiserver's side: one Lease, resourceVersion bumped on every write."""

    lease: dict[str, Any] | None = None
    version: int = 0
    writes: list[tuple[float, str]] = field(default_factory=list)

    def handle(self, method: str, body: Any) -> tuple[int, Any]:
        if method == "GET":
            return (404, {"reason": "NotFound"}) if self.lease is None else (200, copy.deepcopy(self.lease))
        if method == "POST":
            if self.lease is not None:
                return 409, {"reason": "AlreadyExists"}
            return 201, self._store(body)
        if method == "PUT":
            if self.lease is None:
                return 404, {"reason": "NotFound"}
            if body["metadata"].get("resourceVersion") != self.lease["metadata"]["resourceVersion"]:
                return 409, {"reason": "Conflict"}
            return 200, self._store(body)
        raise AssertionError(method)

    def _store(self, body: dict[str, Any]) -> dict[str, Any]:
        self.version += 1
        self.lease = copy.deepcopy(body)
        self.lease["metadata"]["resourceVersion"] = str(self.version)
        self.writes.append((asyncio.get_running_loop().time(), body["spec"]["holderIdentity"]))
        return copy.deepcopy(self.lease)

    @property
    def holder(self) -> str:
        return "" if self.lease is None else str(self.lease["spec"]["holderIdentity"])


@dataclass
class ReplicaApi:
    """One replica's connection: can be cut (partition), slowed, or made to raise a bug."""

    store: LeaseStore
    partitioned: bool = False
    latency: float = 0.0
    bug: Exception | None = None
    timeouts: list[tuple[float, float]] = field(default_factory=list)  # (sent at, timeout)
    reconnects: int = 0

    async def request(
        self, method: str, path: str, body: Any = None, content_type: str = "", timeout: float = 30.0
    ) -> tuple[int, Any]:
        assert path.endswith("/leases") or path.endswith(f"/leases/{LEASE_NAME}")
        self.timeouts.append((asyncio.get_running_loop().time(), timeout))
        if self.bug is not None:
            bug, self.bug = self.bug, None
            raise bug
        if self.latency:
            if self.latency >= timeout:
                await asyncio.sleep(timeout)
                raise TimeoutError()
            await asyncio.sleep(self.latency)
        if self.partitioned:
            await asyncio.sleep(min(0.05, timeout))
            raise aiohttp.ClientConnectionError("connection refused")
        return self.store.handle(method, body)

    async def reconnect(self) -> None:
        self.reconnects += 1

    async def close(self) -> None:
        pass


def elector(store: LeaseStore, name: str, offset: float = 0.0, **kw: Any) -> tuple[LeaderElector, ReplicaApi]:
    api = ReplicaApi(store)
    clock = asyncio.get_running_loop().time
    lost: list[float] = kw.pop("lost", [])
    e = LeaderElector(
        api,  # type: ignore[arg-type]
        "ns",
        kw.pop("timing", TIMING),
        me=name,
        leadership=Leadership(clock),
        clock=clock,
        wall_offset=offset,
        on_lost=lambda: lost.append(clock()),
    )
    return e, api


async def wait_until(predicate: Any, timeout: float = 60.0, step: float = 0.01) -> float:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError("condition not reached in virtual time")
        await asyncio.sleep(step)
    return loop.time()


# --------------------------------------------------------------------------- pure decisions
def record(
    holder: str, renew: str = "2026-01-01T00:00:00.000000Z", seconds: int = 3, rv: str = "1"
) -> Record:
    return Record(holder, seconds, renew, renew, 0, rv)


def test_a_held_lease_may_be_taken_only_after_it_stayed_unchanged_for_its_duration() -> None:
    seen = observe(None, record("other"), now=100.0)
    assert not may_take(seen, "me", 102.9)
    assert may_take(seen, "me", 103.0)
    # A renewal (a changed record) restarts the count on our own clock.
    renewed = observe(seen, record("other", renew="2026-01-01T00:00:02.000000Z", rv="2"), now=102.0)
    assert renewed.seen_at == 102.0
    assert not may_take(renewed, "me", 104.9)


def test_a_metadata_only_change_is_not_a_renewal() -> None:
    seen = observe(None, record("other", rv="1"), now=10.0)
    assert observe(seen, record("other", rv="7"), now=12.0).seen_at == 10.0


def test_a_free_or_own_lease_may_be_taken_at_once() -> None:
    assert may_take(Observation(record(""), 50.0), "me", 50.0)
    assert may_take(Observation(record("me"), 50.0), "me", 50.0)


@given(
    renew_offset=st.floats(min_value=-86400, max_value=86400),
    seen_at=st.floats(min_value=0, max_value=1e6),
    elapsed=st.floats(min_value=0, max_value=100),
)
def test_the_wall_clock_in_renew_time_never_decides_expiry(
    renew_offset: float, seen_at: float, elapsed: float
) -> None:
    """Whatever renewTime says (another machine's clock, off by up to a day), only our own
    monotonic time since we saw the record change decides."""
    renew = (datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=renew_offset)).strftime(
        "%Y-%m-%dT%H:%M:%S.%fZ"
    )
    observation = Observation(record("other", renew=renew, seconds=15), seen_at)
    assert may_take(observation, "me", seen_at + elapsed) == (elapsed >= 15)


def test_takeover_counts_a_transition_and_renewal_keeps_acquire_time() -> None:
    now = datetime(2026, 1, 1, 12, tzinfo=UTC)
    taken = desired_spec(Record("old", 3, "a", "b", 4, "9"), "me", now, TIMING)
    assert taken["leaseTransitions"] == 5
    assert taken["acquireTime"] == "2026-01-01T12:00:00.000000Z"
    renewed = desired_spec(Record("me", 3, "a0", "b", 5, "10"), "me", now, TIMING)
    assert renewed["leaseTransitions"] == 5
    assert renewed["acquireTime"] == "a0"
    assert renewed["leaseDurationSeconds"] == 3


def test_timing_defaults_keep_client_go_ratios_and_fractional_leases_round_up() -> None:
    assert Timing.derived(15) == Timing(15, 10, 2)
    assert Timing.derived(2.5).lease_duration_field == 3
    assert Timing.derived(4, 3, 0.5) == Timing(4, 3, 0.5)


def test_settings_refuse_a_renew_deadline_not_shorter_than_the_lease() -> None:
    with pytest.raises(SettingsError, match="AZBATCH_LEADER_RENEW_DEADLINE_SECONDS"):
        Settings.from_env({"AZBATCH_LEADER_LEASE_SECONDS": "4", "AZBATCH_LEADER_RENEW_DEADLINE_SECONDS": "4"})
    with pytest.raises(SettingsError, match="AZBATCH_LEADER_RETRY_PERIOD_SECONDS"):
        Settings.from_env(
            {"AZBATCH_LEADER_RENEW_DEADLINE_SECONDS": "2", "AZBATCH_LEADER_RETRY_PERIOD_SECONDS": "2"}
        )
    # The old single knob still works alone: the others follow it.
    assert Settings.from_env({"AZBATCH_LEADER_LEASE_SECONDS": "4"}).leader_timing().renew_deadline < 4


def test_leadership_turns_false_at_its_deadline_even_before_anyone_clears_it() -> None:
    now = [0.0]
    leadership = Leadership(lambda: now[0])
    leadership.extend(until=10.0)
    now[0] = 9.99
    assert leadership.is_set()
    now[0] = 10.0
    assert not leadership.is_set()
    assert leadership.flagged()


# --------------------------------------------------------------------------- the elector, virtual time
@pytest.mark.looptime
async def test_one_replica_leads_the_other_stands_by_until_the_lease_went_stale() -> None:
    store = LeaseStore()
    a, _ = elector(store, "a")
    b, _ = elector(store, "b")
    a.start()
    await wait_until(a.leadership.is_set)
    b.start()
    await asyncio.sleep(30)
    assert a.leadership.is_set()
    assert not b.leadership.is_set()
    assert store.holder == "a"
    # The leader dies without a word (no release): b waits a full lease after its last sighting.
    assert a._task is not None
    a._task.cancel()
    died = asyncio.get_running_loop().time()
    took = await wait_until(b.leadership.is_set)
    await a.stop()
    assert TIMING.lease_seconds <= took - died <= TIMING.lease_seconds + 2 * TIMING.retry_period * 1.2
    await b.stop()


@pytest.mark.looptime
async def test_a_leader_that_cannot_renew_stops_acting_within_its_deadline_then_steps_down() -> None:
    store = LeaseStore()
    lost: list[float] = []
    a, a_api = elector(store, "a", lost=lost)
    b, _ = elector(store, "b")
    a.start()
    await wait_until(a.leadership.is_set)
    b.start()
    await asyncio.sleep(5)
    last_renewal = max(t for t, who in store.writes if who == "a")
    a_api.partitioned = True
    stopped = await wait_until(lambda: not a.leadership.is_set(), step=0.001)
    # Stopped acting no later than renew_deadline after the renewal that last succeeded.
    assert stopped - last_renewal <= TIMING.renew_deadline + 0.01
    await wait_until(lambda: bool(lost))
    assert lost[0] >= stopped, "stepped down only after it had stopped acting"
    took = await wait_until(b.leadership.is_set, step=0.001)
    assert took - stopped >= TIMING.lease_seconds - TIMING.renew_deadline - 0.01
    await b.stop()


@pytest.mark.looptime
async def test_every_lease_request_times_out_before_the_renew_deadline() -> None:
    store = LeaseStore()
    a, api = elector(store, "a")
    a.start()
    await wait_until(a.leadership.is_set)
    api.latency = 5.0  # the apiserver hangs
    await wait_until(lambda: not a.leadership.flagged())
    deadline = max(t for t, who in store.writes if who == "a") + TIMING.renew_deadline
    for sent, timeout in api.timeouts:
        assert timeout <= TIMING.request_timeout
        if sent < deadline:  # while leading, no request outlives the renew deadline
            assert sent + timeout <= deadline + 0.05
    assert api.reconnects >= 1, "a timed-out connection is replaced, not reused"


@pytest.mark.looptime
async def test_connection_errors_and_a_bug_never_kill_the_election() -> None:
    store = LeaseStore()
    a, api = elector(store, "a")
    api.partitioned = True
    a.start()
    await asyncio.sleep(20)
    assert a.healthy()
    assert not a.leadership.is_set()
    api.bug = ValueError("a bug in one round")
    await asyncio.sleep(5)
    assert a.restarts == 1
    assert a.healthy()
    api.partitioned = False
    await wait_until(a.leadership.is_set)
    await a.stop()


@pytest.mark.looptime
async def test_liveness_fails_when_the_election_task_is_gone() -> None:
    store = LeaseStore()
    a, _ = elector(store, "a")
    assert not a.healthy(), "never started"
    a.start()
    await asyncio.sleep(1)
    assert a.healthy()
    assert a._task is not None
    a._task.cancel()
    await asyncio.sleep(0.1)
    assert not a.healthy()
    await a.stop()


@pytest.mark.looptime
async def test_a_race_for_a_free_lease_has_one_winner() -> None:
    store = LeaseStore()
    replicas = [elector(store, name)[0] for name in "abcd"]
    for r in replicas:
        r.start()
    await asyncio.sleep(10)
    assert sum(r.leadership.is_set() for r in replicas) == 1
    for r in replicas:
        await r.stop()


@pytest.mark.looptime
async def test_release_hands_over_at_once_but_never_clobbers_a_newer_holder() -> None:
    store = LeaseStore()
    a, _ = elector(store, "a")
    b, _ = elector(store, "b")
    a.start()
    await wait_until(a.leadership.is_set)
    b.start()
    await asyncio.sleep(2)
    stopped_at = asyncio.get_running_loop().time()
    await a.stop()
    assert store.holder == ""
    took = await wait_until(b.leadership.is_set)
    assert took - stopped_at <= TIMING.retry_period * 1.2 + 0.1
    # A stale release (a's last version) is refused: b keeps the Lease.
    await a.release()
    assert store.holder == "b"
    await b.stop()


class RecordingLeadership(Leadership):
    """Leadership that remembers when it may act: [extended at, min(until, revoked at))."""

    def __init__(self, clock: Any) -> None:
        super().__init__(clock)
        self.clock = clock
        self.periods: list[list[float]] = []

    def extend(self, until: float) -> None:
        self.periods.append([self.clock(), until])
        super().extend(until)

    def revoke(self) -> None:
        now = self.clock()
        for period in self.periods:
            period[1] = min(period[1], now)
        super().revoke()


def overlap(a: list[list[float]], b: list[list[float]]) -> float:
    return sum(max(0.0, min(x[1], y[1]) - max(x[0], y[0])) for x in a for y in b)


@pytest.mark.looptime
@pytest.mark.parametrize("seed", range(8))
async def test_campaign_clocks_60s_apart_partitions_and_stalls_never_two_acting(seed: int) -> None:
    """Two replicas (wall clocks 60 s apart), each replaced on step-down as a Deployment would;
    random partitions and stalls for ten simulated minutes. No two replicas' acting periods
    overlap, and leadership keeps moving."""
    rng = random.Random(seed)
    store = LeaseStore()
    loop = asyncio.get_running_loop()
    replicas: dict[str, tuple[LeaderElector, ReplicaApi]] = {}
    everyone: list[LeaderElector] = []

    end = loop.time() + 600

    def spawn(slot: str) -> None:
        if loop.time() >= end:
            return
        e, api = elector(store, f"{slot}{len(everyone)}", offset=60.0 if slot == "a" else 0.0)
        e.leadership = RecordingLeadership(loop.time)
        e._on_lost = lambda: loop.call_later(0.5, spawn, slot)  # the Deployment restarts it
        replicas[slot] = (e, api)
        everyone.append(e)
        e.start()

    spawn("a")
    spawn("b")
    while loop.time() < end:
        await asyncio.sleep(rng.uniform(0.5, 6))
        _, api = replicas[rng.choice("ab")]
        if rng.random() < 0.5:
            api.partitioned = True
            await asyncio.sleep(rng.uniform(0.1, 3 * TIMING.lease_seconds))
            api.partitioned = False
        else:
            api.latency = rng.uniform(0.1, 2 * TIMING.renew_deadline)
            await asyncio.sleep(rng.uniform(0.5, 4))
            api.latency = 0.0
    await asyncio.sleep(1)
    for e in everyone:
        await e.stop()
    periods = {e.me: e.leadership.periods for e in everyone}  # type: ignore[attr-defined]
    names = sorted(periods)
    for i, x in enumerate(names):
        for y in names[i + 1 :]:
            assert overlap(periods[x], periods[y]) == 0.0, (x, y)
    leaders = [name for name in names if periods[name]]
    assert len(leaders) >= 4, f"leadership should move under faults: {leaders}"


def test_a_plain_set_means_leading_without_a_deadline() -> None:
    """Without leader election the runtime just sets the flag: the gate stays open."""
    leadership = Leadership(lambda: 1e12)
    assert not leadership.is_set()
    leadership.set()
    assert leadership.is_set()
    leadership.revoke()
    assert not leadership.is_set()
