"""What every handler shares for the life of the operator process, built once at start-up."""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import kopf

from azbatch_operator.azure.budget import ArmBudget
from azbatch_operator.azure.clients import AzureClients
from azbatch_operator.azure.resources import Resources
from azbatch_operator.handlers.lookups import SharedLookups
from azbatch_operator.kube import KubeApi, StatusWriter
from azbatch_operator.leader import LeaderElector
from azbatch_operator.settings import Settings

if TYPE_CHECKING:
    from azbatch_operator.handlers.node_counts import NodeCountsBatcher


@dataclass
class Runtime:
    settings: Settings
    azure: AzureClients
    resources: Resources
    kube: KubeApi
    status: StatusWriter
    #: Set while this replica may act (always, unless leader election is on).
    leading: asyncio.Event = field(default_factory=asyncio.Event)
    elector: LeaderElector | None = None
    rng: random.Random = field(default_factory=random.Random)
    #: kopf's finalizer (settings.persistence.finalizer): present before the first Azure write.
    finalizer: str = "kopf.zalando.org/KopfFinalizerMarker"
    #: Bounds concurrent reconcile passes (AZBATCH_MAX_WORKERS), hence concurrent Azure calls.
    slots: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(20))
    #: Account and image reads shared by every object (see handlers/lookups.py).
    lookups: SharedLookups = field(default_factory=SharedLookups)
    #: Node counts per Batch account from the data plane; None when AZBATCH_DATA_PLANE is off.
    node_counts: NodeCountsBatcher | None = None
    _election: asyncio.Task[None] | None = None

    def start_election(self) -> None:
        if self.elector is None:
            self.leading.set()
            return
        self._election = asyncio.create_task(self.elector.acquire(self.leading), name="leader election")

    async def close(self) -> None:
        if self._election is not None:
            self._election.cancel()
            if self.leading.is_set() and self.elector is not None:
                await self.elector.release()
        await self.kube.close()
        if self.node_counts is not None:
            await self.node_counts.data_plane.close()
        await self.azure.close()


_runtime: Runtime | None = None


def get() -> Runtime:
    if _runtime is None:
        raise kopf.TemporaryError("operator runtime not initialised yet", delay=1)
    return _runtime


def require_leadership() -> Runtime:
    """For one-shot handlers (finalizers): a standby replica leaves the work to the leader."""
    rt = get()
    if not rt.leading.is_set():
        raise kopf.TemporaryError("standing by: another replica is the leader", delay=2)
    return rt


def install(runtime: Runtime) -> None:
    global _runtime
    _runtime = runtime


async def uninstall() -> None:
    global _runtime
    if _runtime is not None:
        await _runtime.close()
        _runtime = None


def build(kopf_settings: kopf.OperatorSettings, **_: Any) -> Runtime:
    settings = Settings.from_env()
    azure = AzureClients.from_env()
    kube = KubeApi.login(kopf_settings)
    elector = None
    if settings.leader_election:
        namespace = settings.leader_election_namespace or kube.default_namespace
        elector = LeaderElector(kube, namespace, settings.leader_lease_seconds)
    budget = ArmBudget(settings.arm_reads_per_second, settings.arm_writes_per_second)
    node_counts = None
    if settings.data_plane:
        from azbatch_operator.azure.dataplane import DataPlane
        from azbatch_operator.handlers.node_counts import NodeCountsBatcher

        data_plane = DataPlane(azure.credential, azure.cloud.name)
        node_counts = NodeCountsBatcher(data_plane, settings.node_counts_age)
    return Runtime(
        settings,
        azure,
        Resources(azure, budget),
        kube,
        StatusWriter(kube),
        elector=elector,
        slots=asyncio.Semaphore(settings.max_workers),
        finalizer=kopf_settings.persistence.finalizer,
        node_counts=node_counts,
    )
