"""Contract:: the pure part of leader election: Lease records, observations, timing. No I/O.

client-go's rules (leaderelection.go), as functions of what was read and of the clocks passed in:
a standby may take a Lease only when it is free, already its own, or has stayed unchanged for its
`leaseDurationSeconds` on the standby's own monotonic clock since the standby saw it change.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any


@dataclass(frozen=True)
class Timing:
    """client-go's LeaseDuration / RenewDeadline / RetryPeriod (defaults 15 / 10 / 2 s)."""

    lease_seconds: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0

    @classmethod
    def derived(cls, lease: float, renew: float = 0.0, retry: float = 0.0) -> Timing:
        """Unset (0) renew deadline and retry period keep client-go's ratios to the lease."""
        renew = renew or lease * 2 / 3
        retry = retry or min(renew / 4, lease * 2 / 15)
        return cls(lease, renew, retry)

    @property
    def lease_duration_field(self) -> int:
        """`spec.leaseDurationSeconds` is an integer: round up, never shorten the lease."""
        return max(1, math.ceil(self.lease_seconds))

    @property
    def request_timeout(self) -> float:
        """No single request may use up the window in which the leader can still renew."""
        return self.renew_deadline / 2


@dataclass(frozen=True)
class Record:
    """What the Lease says (its spec) and the version to update it against."""

    holder: str
    lease_seconds: int
    acquire_time: str | None
    renew_time: str | None
    transitions: int
    resource_version: str

    @classmethod
    def from_lease(cls, lease: dict[str, Any]) -> Record:
        spec = lease.get("spec") or {}
        return cls(
            holder=spec.get("holderIdentity") or "",
            lease_seconds=int(spec.get("leaseDurationSeconds") or 0),
            acquire_time=spec.get("acquireTime"),
            renew_time=spec.get("renewTime"),
            transitions=int(spec.get("leaseTransitions") or 0),
            resource_version=str((lease.get("metadata") or {}).get("resourceVersion") or ""),
        )

    def same_record(self, other: Record) -> bool:
        """client-go compares the record, not the object: a label change is no renewal."""
        return replace(self, resource_version="") == replace(other, resource_version="")


@dataclass(frozen=True)
class Observation:
    """The last record this replica saw change, and when (its own monotonic clock)."""

    record: Record
    seen_at: float


def observe(previous: Observation | None, record: Record, now: float) -> Observation:
    if previous is not None and previous.record.same_record(record):
        return Observation(record, previous.seen_at)  # keep the time of the last *change*
    return Observation(record, now)


def may_take(observation: Observation, me: str, now: float) -> bool:
    """Free, ours, or unchanged for its whole lease duration since we saw it change."""
    record = observation.record
    if not record.holder or record.holder == me:
        return True
    return now >= observation.seen_at + record.lease_seconds


def micro_time(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def desired_spec(current: Record | None, me: str, wall_now: datetime, timing: Timing) -> dict[str, Any]:
    """The spec to write: renew our own record, or take over with a new acquireTime."""
    now = micro_time(wall_now)
    if current is not None and current.holder == me:
        acquired, transitions = current.acquire_time or now, current.transitions
    else:
        acquired = now
        transitions = 0 if current is None else current.transitions + (1 if current.holder else 0)
    return {
        "holderIdentity": me,
        "leaseDurationSeconds": timing.lease_duration_field,
        "acquireTime": acquired,
        "renewTime": now,
        "leaseTransitions": transitions,
    }
