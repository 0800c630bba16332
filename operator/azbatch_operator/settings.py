"""Operator knobs, read once from ``AZBATCH_*`` environment variables (documented in docs/operations.md).

Values are validated at start-up so a typo fails loudly instead of surfacing as odd timing later.
Everything the pure planners need (limits, polling, retry timing) comes from here, never from constants.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from azbatch_operator.election import Timing

T = TypeVar("T")


class SettingsError(ValueError):
    """An ``AZBATCH_*`` variable has an invalid value; the message names the variable and the value."""


@dataclass(frozen=True)
class Settings:
    default_subscription_id: str | None = None
    #: Seed S7: custom-image pools share these node limits across every pool using one image.
    image_max_dedicated_nodes: int = 2500
    image_max_low_priority_nodes: int = 1000
    #: Requeue while something changes (resizing, long-running operation in flight).
    poll_fast_seconds: float = 15.0
    #: Requeue when Steady at target: keeps steady-state ARM reads far below the subscription budget.
    poll_slow_seconds: float = 600.0
    #: How often a QuotaExceeded pool retries its resize, so raising the quota heals it unattended.
    quota_recheck_seconds: float = 300.0
    #: Exponential backoff for transient Azure errors: base * 2**attempt, capped, with jitter.
    retry_base_seconds: float = 5.0
    retry_max_seconds: float = 300.0
    #: Fraction of random spread added to slow resyncs and backoffs, so objects do not poll in lockstep.
    jitter_fraction: float = 0.1
    #: After sending a create, how long a 404 on GET is read as ARM lag rather than a lost request.
    create_grace_seconds: float = 120.0
    #: Reconcile passes running at once (each makes a few Azure calls); the rest wait their turn.
    max_workers: int = 200
    #: The operator's own ARM request budget per subscription (token buckets of ARM's size, 250 / 200):
    #: ARM's defaults (reads 25/s, writes and deletes 10/s). Lower them when other clients share
    #: the subscription and principal; 0 turns the client-side budget off.
    arm_reads_per_second: float = 25.0
    arm_writes_per_second: float = 10.0
    #: Port for Prometheus /metrics; 0 turns the endpoint off.
    metrics_port: int = 0
    #: Run several replicas safely: only the holder of a coordination.k8s.io Lease reconciles.
    leader_election: bool = False
    #: Namespace of that Lease; empty means the pod's own namespace (or "default" outside a cluster).
    leader_election_namespace: str = ""
    #: A standby takes over a Lease it has seen unchanged for this long (client-go LeaseDuration).
    leader_lease_seconds: float = 15.0
    #: A leader that could not renew for this long stops acting and steps down (RenewDeadline);
    #: 0 means two thirds of the lease. Must be shorter than the lease.
    leader_renew_deadline_seconds: float = 0.0
    #: Pause between election rounds (RetryPeriod); 0 means 2/15 of the lease (at most a quarter
    #: of the renew deadline). Must be shorter than the renew deadline.
    leader_retry_period_seconds: float = 0.0
    #: For tests only: shifts the wall clock the election writes into renewTime/acquireTime.
    leader_clock_offset_seconds: float = 0.0
    # --- Node health from the Batch data plane (docs/operations.md "Node health") ---
    #: Read node counts and node errors from the Batch data plane, and send retry resizes there.
    data_plane: bool = True
    #: Node counts reused for this long: one Account_ListPoolNodeCounts per account serves every
    #: pool polling within it.  0 = four fast polls (a minute with the defaults, well below how fast
    #: a node problem needs an answer; seconds where polling was made fast, as in tests).
    node_counts_max_age_seconds: float = 0.0
    #: A steady pool's read is served by its account's pool listing when it is younger than this
    #: (one Pool_ListByBatchAccount per account serves every pool); 0 = eight fast polls (two
    #: minutes with the defaults). Never older than the slow poll; a changing pool asks for a
    #: listing no older than the fast poll.
    pool_list_max_age_seconds: float = 0.0
    #: One failed start task is enough: start tasks run the same commands on every node, so each
    #: further node would fail (and be paid for) the same way.
    start_task_failed_nodes: int = 1
    #: Unusable nodes also have causes of their own (a host fault), so a few in a large pool are
    #: routine: unhealthy at this many, or at this fraction of the pool's nodes if that is more.
    unusable_nodes: int = 1
    unusable_nodes_fraction: float = 0.05

    @property
    def node_counts_age(self) -> float:
        """AZBATCH_NODE_COUNTS_MAX_AGE_SECONDS, or four fast polls when it is 0 (the default)."""
        return self.node_counts_max_age_seconds or 4 * self.poll_fast_seconds

    @property
    def pool_list_age(self) -> float:
        """AZBATCH_POOL_LIST_MAX_AGE_SECONDS, or eight fast polls when it is 0 (the default)."""
        return self.pool_list_max_age_seconds or 8 * self.poll_fast_seconds

    def leader_timing(self) -> Timing:
        return Timing.derived(
            self.leader_lease_seconds, self.leader_renew_deadline_seconds, self.leader_retry_period_seconds
        )

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read ``AZBATCH_*`` (and ``AZURE_SUBSCRIPTION_ID``); unset variables keep their defaults."""
        env = os.environ if env is None else env
        defaults = cls()
        values: dict[str, Any] = {"default_subscription_id": env.get("AZURE_SUBSCRIPTION_ID") or None}
        for field in dataclasses.fields(cls):
            if field.name == "default_subscription_id":
                continue
            var = "AZBATCH_" + field.name.upper()
            raw = env.get(var)
            if raw is None or raw.strip() == "":
                continue
            default = getattr(defaults, field.name)
            values[field.name] = _parse(var, raw, _kind_of(default))
        settings = cls(**values)
        settings.validate()
        return settings

    def validate(self) -> None:
        """Cross-field rules; raises :class:`SettingsError` naming the variables involved."""
        positive = (
            "image_max_dedicated_nodes",
            "image_max_low_priority_nodes",
            "poll_fast_seconds",
            "poll_slow_seconds",
            "quota_recheck_seconds",
            "retry_base_seconds",
            "retry_max_seconds",
            "max_workers",
        )
        for name in positive:
            if getattr(self, name) <= 0:
                raise SettingsError(f"AZBATCH_{name.upper()} must be > 0, got {getattr(self, name)}")
        for name in ("arm_reads_per_second", "arm_writes_per_second"):
            if getattr(self, name) < 0:
                raise SettingsError(f"AZBATCH_{name.upper()} must be >= 0, got {getattr(self, name)}")
        if not 0 <= self.metrics_port <= 65535:
            raise SettingsError(f"AZBATCH_METRICS_PORT must be a port number or 0, got {self.metrics_port}")
        if self.leader_lease_seconds < 1:
            raise SettingsError(f"AZBATCH_LEADER_LEASE_SECONDS must be >= 1, got {self.leader_lease_seconds}")
        for name in ("leader_renew_deadline_seconds", "leader_retry_period_seconds"):
            if getattr(self, name) < 0:
                raise SettingsError(f"AZBATCH_{name.upper()} must be >= 0, got {getattr(self, name)}")
        timing = self.leader_timing()
        if not timing.renew_deadline < timing.lease_seconds:
            raise SettingsError(
                f"AZBATCH_LEADER_RENEW_DEADLINE_SECONDS ({timing.renew_deadline:g}) must be shorter than "
                f"AZBATCH_LEADER_LEASE_SECONDS ({timing.lease_seconds:g})"
            )
        if not timing.retry_period < timing.renew_deadline:
            raise SettingsError(
                f"AZBATCH_LEADER_RETRY_PERIOD_SECONDS ({timing.retry_period:g}) must be shorter than "
                f"the renew deadline ({timing.renew_deadline:g})"
            )
        if self.create_grace_seconds < 0:
            raise SettingsError(f"AZBATCH_CREATE_GRACE_SECONDS must be >= 0, got {self.create_grace_seconds}")
        if self.pool_list_max_age_seconds < 0:
            raise SettingsError(
                f"AZBATCH_POOL_LIST_MAX_AGE_SECONDS must be >= 0, got {self.pool_list_max_age_seconds}"
            )
        if self.node_counts_max_age_seconds < 0:
            raise SettingsError(
                f"AZBATCH_NODE_COUNTS_MAX_AGE_SECONDS must be >= 0, got {self.node_counts_max_age_seconds}"
            )
        for name in ("start_task_failed_nodes", "unusable_nodes"):
            if getattr(self, name) <= 0:
                raise SettingsError(f"AZBATCH_{name.upper()} must be > 0, got {getattr(self, name)}")
        if not 0 <= self.unusable_nodes_fraction <= 1:
            raise SettingsError(
                f"AZBATCH_UNUSABLE_NODES_FRACTION must be in [0, 1], got {self.unusable_nodes_fraction}"
            )
        if not 0 <= self.jitter_fraction < 1:
            raise SettingsError(f"AZBATCH_JITTER_FRACTION must be in [0, 1), got {self.jitter_fraction}")
        if self.poll_fast_seconds > self.poll_slow_seconds:
            raise SettingsError(
                f"AZBATCH_POLL_FAST_SECONDS ({self.poll_fast_seconds}) must not exceed "
                f"AZBATCH_POLL_SLOW_SECONDS ({self.poll_slow_seconds})"
            )
        if self.retry_base_seconds > self.retry_max_seconds:
            raise SettingsError(
                f"AZBATCH_RETRY_BASE_SECONDS ({self.retry_base_seconds}) must not exceed "
                f"AZBATCH_RETRY_MAX_SECONDS ({self.retry_max_seconds})"
            )


def _bool(raw: str) -> bool:
    lowered = raw.lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError(raw)


def _kind_of(default: object) -> Callable[[str], Any]:
    if isinstance(default, bool):
        return _bool
    if isinstance(default, int):
        return int
    if isinstance(default, str):
        return str
    return float


def _parse(var: str, raw: str, kind: Callable[[str], T]) -> T:
    try:
        value = kind(raw.strip())
    except ValueError:
        expected = {int: "an integer", _bool: "true or false"}.get(kind, "a number")
        raise SettingsError(f"{var} must be {expected}, got {raw!r}") from None
    if isinstance(value, float) and value != value:  # NaN
        raise SettingsError(f"{var} must be a number, got {raw!r}")
    return value
