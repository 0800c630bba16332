"""Operator start-up and probes: settings that apply to every handler."""

from __future__ import annotations

import logging
from typing import Any

import kopf

from azbatch_operator import metrics
from azbatch_operator.handlers import runtime

logger = logging.getLogger(__name__)


@kopf.on.startup()
async def configure(*, settings: kopf.OperatorSettings, **_: Any) -> None:
    """Keep kopf's bookkeeping out of the parts of objects a GitOps tool owns.

    kopf's default storages write annotations; annotations are user-owned metadata that
    Argo CD and Flux compare, so a diff would show drift. Status is ours.
    """
    settings.persistence.progress_storage = kopf.StatusProgressStorage(field="status.kopf.progress")
    settings.persistence.diffbase_storage = kopf.StatusDiffBaseStorage(field="status.kopf.diffbase")
    settings.posting.level = logging.INFO
    settings.watching.server_timeout = 300
    settings.networking.error_backoffs = [1, 2, 5, 10]
    # The SDKs log every HTTP request at INFO (headers included): far too much for an operator.
    logging.getLogger("azure").setLevel(logging.WARNING)
    rt = runtime.build(settings)
    runtime.install(rt)
    metrics.serve(rt.settings.metrics_port)
    metrics.track_leadership(rt.leading.is_set)
    rt.start_election()
    logger.info(
        "azbatch-operator configured: ARM %s, cloud %s, default subscription %s",
        rt.azure.cloud.resource_manager,
        rt.azure.cloud.name,
        rt.settings.default_subscription_id or "(none)",
    )


@kopf.on.cleanup()
async def close(**_: Any) -> None:
    """Close Azure and Kubernetes sessions so SIGTERM ends without warnings about open sockets."""
    await runtime.uninstall()


@kopf.on.probe(id="ready")
def ready(**_: Any) -> bool:
    """Liveness payload: the operator's event loop answers."""
    return True
