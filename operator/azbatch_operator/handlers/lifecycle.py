"""Operator start-up, Kubernetes login and probes: settings that apply to every handler.

Order, as kopf runs it: the start-up handler builds the runtime (kept in kopf's operator-wide
``memo``, which kopf copies into every object's memo) and starts the election; kopf then
logs in through `login`, and only after that does it watch, add finalizers, patch or post events.
With leader election on, `login` returns only once this replica leads, so a standby makes no
Kubernetes call through kopf at all (no finalizer logic, no writes), while its liveness endpoint
answers. The session it returns refuses every request once leadership lapses.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import kopf

from azbatch_operator import metrics
from azbatch_operator.handlers import runtime

logger = logging.getLogger(__name__)


class NoDiffBase(kopf.DiffBaseStorage):
    """kopf keeps a copy of each object's spec (its "diff base") to detect creations and updates
    for on.create / on.update handlers.  The operator has none (its loops plan from the live spec;
    only deletion, which kopf sees from deletionTimestamp, has a handler), so every object is
    taken as already seen and nothing is stored: one status write less per new object and per
    spec change, and no copy of the spec in status."""

    def fetch(self, *, body: kopf.Body) -> kopf.BodyEssence | None:
        return self.build(body=body)

    def store(self, *, body: kopf.Body, patch: kopf.Patch, essence: kopf.BodyEssence) -> None:
        return None


@kopf.on.startup()
async def configure(*, settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    """Keep kopf's bookkeeping out of the parts of objects a GitOps tool owns.

    kopf's default storages write annotations; annotations are user-owned metadata that
    Argo CD and Flux compare, so a diff would show drift. Status is ours.
    """
    settings.persistence.progress_storage = kopf.StatusProgressStorage(field="status.kopf.progress")
    settings.persistence.diffbase_storage = NoDiffBase()
    # Events are for what a user acts on: the operator posts its own on every headline change
    # (Creating, Ready, Stalled, ...); kopf's per-handler INFO lines ("Handler ... succeeded") would
    # double the apiserver writes of every reconcile, so only its warnings and errors are posted.
    settings.posting.level = logging.WARNING
    settings.watching.server_timeout = 300
    settings.networking.error_backoffs = [1, 2, 5, 10]
    # The SDKs log every HTTP request at INFO (headers included): far too much for an operator.
    logging.getLogger("azure").setLevel(logging.WARNING)
    rt = await runtime.build(settings)
    memo[runtime.MEMO_KEY] = rt
    metrics.serve(rt.settings.metrics_port)
    metrics.track_leadership(rt.leading.is_set)
    rt.start_election()
    rt.start_drift_listings()
    logger.info(
        "azbatch-operator configured: ARM %s, cloud %s, default subscription %s",
        rt.azure.cloud.resource_manager,
        rt.azure.cloud.name,
        rt.settings.default_subscription_id or "(none)",
    )


@kopf.on.cleanup()
async def close(*, memo: kopf.Memo, **_: Any) -> None:
    """Close Azure and Kubernetes sessions so SIGTERM ends without warnings about open sockets."""
    rt = runtime.installed(memo)
    if rt is not None:
        await rt.close()
        del memo[runtime.MEMO_KEY]


@kopf.on.login(retries=None, backoff=2)
async def login(*, memo: kopf.Memo, **_: Any) -> kopf.AiohttpSession:
    """kopf's credentials: the official client's login (kubeconfig with exec plugins, tokens,
    certificates; or the pod's service account), a fresh header per request, re-login on 401.

    kopf calls this again after a 401 it could not recover from: reload before answering.
    """
    rt = runtime.of(memo)
    assert rt.login is not None
    if rt.elector is not None and not rt.leading.is_set():
        logger.info("standing by: kopf starts watching once this replica holds the leader Lease")
        while not rt.leading.is_set():
            await rt.leading.wait()
            if not rt.leading.is_set():
                await asyncio.sleep(0.05)  # flag still up, deadline passed: the election clears it
    credentials = await rt.login.for_kopf()
    return kopf.AiohttpSession(
        server=credentials.server,
        default_namespace=credentials.namespace,
        aiohttp_session=rt.login.session(gate=rt.may_act, limit=0),
    )


@kopf.on.probe(id="ready")
def ready(**_: Any) -> bool:
    """Liveness payload: the operator's event loop answers."""
    return True


@kopf.on.probe(id="election", errors=kopf.ErrorsMode.PERMANENT)
def election(*, memo: kopf.Memo, **_: Any) -> str:
    """Liveness fails when the leader election cannot run (its task died or stopped iterating)."""
    rt = runtime.of(memo)
    if not rt.election_healthy():
        raise kopf.PermanentError("leader election is not running")
    if rt.elector is None:
        return "off"
    return "leading" if rt.leading.is_set() else "standby"
