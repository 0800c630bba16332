"""What every handler shares for the life of the operator process, built once at start-up.

The start-up handler (handlers/lifecycle.py) builds one :class:`Runtime` and puts it in kopf's
operator-wide ``memo``; kopf hands every handler, daemon and index a shallow copy of that memo, so
each finds the same object with :func:`of` and passes it on to the helpers that need it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import signal
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import kopf

from azbatch_operator.azure.budget import ArmBudget
from azbatch_operator.azure.clients import AzureClients
from azbatch_operator.azure.resources import Resources
from azbatch_operator.handlers.derived import Derived
from azbatch_operator.handlers.lookups import SharedLookups
from azbatch_operator.handlers.pool_listings import PoolListings
from azbatch_operator.handlers.wakers import Wakers
from azbatch_operator.kube import KubeApi, StatusWriter
from azbatch_operator.kubeauth import Login
from azbatch_operator.leader import LeaderElector, Leadership
from azbatch_operator.reconcile import polling
from azbatch_operator.reconcile.image_refs import ResolvedClaims
from azbatch_operator.settings import Settings

if TYPE_CHECKING:
    from azbatch_operator.handlers.node_counts import NodeCountsBatcher

logger = logging.getLogger(__name__)


@dataclass
class Runtime:
    settings: Settings
    azure: AzureClients
    resources: Resources
    kube: KubeApi
    status: StatusWriter
    #: The one Kubernetes login (official client's config loading) kopf and our sessions share.
    login: Login | None = None
    #: Set while this replica may act: always without leader election; with it, only while this
    #: replica holds a Lease it renewed within its renew deadline (`is_set()` reads the clock).
    leading: asyncio.Event = field(default_factory=Leadership)
    elector: LeaderElector | None = None
    rng: random.Random = field(default_factory=random.Random)
    #: kopf's finalizer (settings.persistence.finalizer): present before the first Azure write.
    finalizer: str = "kopf.zalando.org/KopfFinalizerMarker"
    #: Bounds concurrent reconcile passes (AZBATCH_MAX_WORKERS), hence concurrent Azure calls.
    slots: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(20))
    #: Account and image reads shared by every object (see handlers/lookups.py).
    lookups: SharedLookups = field(default_factory=SharedLookups)
    #: Every live reconcile loop's waker (see handlers/wakers.py).
    wakers: Wakers = field(default_factory=Wakers)
    #: Batch pool reads: one listing per account serves every pool (see handlers/pool_listings.py).
    pools: PoolListings | None = None
    #: Node counts per Batch account from the data plane; None when AZBATCH_DATA_PLANE is off.
    node_counts: NodeCountsBatcher | None = None
    #: Lists the accounts of steady pools once per listing age (handlers/pool_listings.py).
    drift_listings: asyncio.Task[None] | None = None
    #: Every pool's image-limit claim, resolved once per change of the indexes (handlers/indexes.py).
    claims: Derived[ResolvedClaims] = field(default_factory=Derived)
    #: When each (object uid, reason) of a rejected status patch was last posted as an event.
    rejections: dict[tuple[str, str], float] = field(default_factory=dict)

    def pool_listings(self) -> PoolListings:
        """The shared pool reads (built on first use where a test made the runtime by hand)."""
        if self.pools is None:
            self.pools = PoolListings(self.resources)
        return self.pools

    def start_drift_listings(self) -> None:
        """List the accounts of steady pools once per listing age (drift; handlers/pool_listings.py)."""
        if self.drift_listings is None:
            work = self.pool_listings().keep_fresh(self.settings.pool_list_age, self.may_act)
            self.drift_listings = asyncio.get_running_loop().create_task(work, name="drift listings")

    def start_election(self) -> None:
        if self.elector is None:
            self.leading.set()
            return
        self.elector.start()

    def may_act(self) -> bool:
        """The write gate: true while this replica may write to Azure and to objects."""
        return self.leading.is_set()

    def election_healthy(self) -> bool:
        return self.elector is None or self.elector.healthy()

    async def close(self) -> None:
        if self.drift_listings is not None:
            self.drift_listings.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.drift_listings
        if self.elector is not None:
            await self.elector.stop()  # stops acting first, then hands the Lease over
        await self.kube.close()
        if self.node_counts is not None:
            await self.node_counts.data_plane.close()
        await self.azure.close()


#: The key of the runtime in kopf's memo (operator-wide, copied into every object's memo).
MEMO_KEY = "runtime"


def of(memo: Mapping[str, Any]) -> Runtime:
    """The runtime from kopf's ``memo`` (retried by kopf if a handler runs before start-up)."""
    found = memo.get(MEMO_KEY)
    if found is None:
        raise kopf.TemporaryError("operator runtime not initialised yet", delay=1)
    assert isinstance(found, Runtime)
    return found


def installed(memo: Mapping[str, Any]) -> Runtime | None:
    """The runtime, or None before start-up (for handlers that have nothing to do without it)."""
    found = memo.get(MEMO_KEY)
    return found if isinstance(found, Runtime) else None


def require_leadership(rt: Runtime) -> None:
    """For one-shot handlers (finalizers): a standby replica leaves the work to the leader."""
    if not rt.leading.is_set():
        raise kopf.TemporaryError("standing by: another replica is the leader", delay=polling.refused())


def step_down() -> None:
    """After losing the Lease: this process has stopped acting; SIGTERM ends it cleanly and the
    Deployment restarts it as a standby (no kopf state of a leader survives into a standby)."""
    os.kill(os.getpid(), signal.SIGTERM)


async def build(kopf_settings: kopf.OperatorSettings, **_: Any) -> Runtime:
    settings = Settings.from_env()
    login = await Login.create()  # first: a failed login leaves nothing open behind it
    azure = AzureClients.from_env()
    logger.info("Kubernetes login: %s, apiserver %s", login.credentials.source, login.credentials.server)
    leadership = Leadership()
    elector = None
    if settings.leader_election:
        namespace = settings.leader_election_namespace or login.credentials.namespace
        elector = LeaderElector(
            KubeApi(login, limit=2),  # its own connections: never queued behind status patches
            namespace,
            settings.leader_timing(),
            leadership=leadership,
            on_lost=step_down,
            wall_offset=settings.leader_clock_offset_seconds,
        )
    kube = KubeApi(login, gate=leadership.is_set)
    budget = ArmBudget(settings.arm_reads_per_second, settings.arm_writes_per_second)
    node_counts = None
    if settings.data_plane:
        from azbatch_operator.azure.dataplane import DataPlane
        from azbatch_operator.handlers.node_counts import NodeCountsBatcher

        data_plane = DataPlane(azure.credential, azure.cloud.name)
        node_counts = NodeCountsBatcher(data_plane, settings.node_counts_age)
    resources = Resources(azure, budget)
    wakers = Wakers()
    return Runtime(
        settings,
        azure,
        resources,
        kube,
        StatusWriter(kube, leadership.is_set),
        login=login,
        leading=leadership,
        elector=elector,
        slots=asyncio.Semaphore(settings.max_workers),
        finalizer=kopf_settings.persistence.finalizer,
        node_counts=node_counts,
        wakers=wakers,
        pools=PoolListings(
            resources,
            lambda reader: wakers.nudge(("batchpools", *reader)),
            wake_slower_than=settings.poll_fast_seconds,
        ),
    )
