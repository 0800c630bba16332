"""The Batch data plane (``azure-batch``, ``azure.batch.aio.BatchClient``) with the operator's identity.

The same azure-identity credential as ARM, with the Batch resource's scope
(``https://batch.core.windows.net//.default`` in the public cloud); one client per account endpoint
(ARM's ``properties.accountEndpoint``, a host name without scheme).  Every call goes through
``calls.arm`` so errors are classified by the one table (a 403 is ``FORBIDDEN``).  Long-running
actions (resize, removeNodes) are only sent: the SDK's poller is dropped, as for ARM operations,
and the next reconcile observes the pool.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from azure.batch import models
from azure.batch.aio import BatchClient

from azbatch_operator import metrics
from azbatch_operator.azure import resources
from azbatch_operator.azure.calls import arm

Json = dict[str, Any]

#: The Batch resource per cloud (AZURE_CLOUD); tokens for the data plane carry it as audience.
BATCH_AUDIENCE = {
    "AzureCloud": "https://batch.core.windows.net/",
    "AzureChinaCloud": "https://batch.chinacloudapi.cn/",
    "AzureUSGovernment": "https://batch.core.usgovcloudapi.net/",
}
#: Batch's limit per removeNodes request.
REMOVE_NODES_MAX = 100
#: Account_ListPoolNodeCounts' ``maxresults`` maximum in the 2025-06-01 reference.
NODE_COUNTS_PAGE_MAX = 1000


def endpoint_url(account_endpoint: str) -> str:
    """``acct.westeurope.batch.azure.com`` (as ARM reports it) -> ``https://acct.westeurope...``."""
    text = account_endpoint.strip().rstrip("/")
    return text if "://" in text else f"https://{text}"


def _wire(model: Any) -> Json:
    return dict(model.as_dict()) if hasattr(model, "as_dict") else dict(model)


class DataPlane:
    """Thin async calls on one Batch account's data plane; no decisions here."""

    def __init__(self, credential: Any, cloud_name: str, retry_total: int = 3, **client_options: Any) -> None:
        self._credential = credential
        self._options = client_options
        self._scope = BATCH_AUDIENCE.get(cloud_name, BATCH_AUDIENCE["AzureCloud"]) + "/.default"
        self._retry_total = retry_total
        self._clients: dict[str, BatchClient] = {}

    def client(self, account_endpoint: str) -> BatchClient:
        url = endpoint_url(account_endpoint)
        key = url.lower()
        if key not in self._clients:
            self._clients[key] = BatchClient(
                url,
                self._credential,
                credential_scopes=[self._scope],
                retry_total=self._retry_total,
                raw_response_hook=metrics.observe_data_plane_response,
                **self._options,
            )
        return self._clients[key]

    async def pool_node_counts(self, account_endpoint: str) -> dict[str, Json]:
        """Account_ListPoolNodeCounts: ``{pool id (lower case): {poolId, dedicated, lowPriority}}``.

        One listing covers every pool of the account.  Batch pages it by 10 pools unless
        ``maxresults`` asks for more: the SDK's API version (2025-06-01) allows 1000, so a large
        account takes a page per 1000 pools, where older versions documented at most 10."""
        client = self.client(account_endpoint)

        async def collect() -> dict[str, Json]:
            out: dict[str, Json] = {}
            async for item in client.list_pool_node_counts(max_results=NODE_COUNTS_PAGE_MAX):
                wire = _wire(item)
                out[str(wire.get("poolId", "")).lower()] = wire
            return out

        return await arm("Batch_ListPoolNodeCounts", collect())

    async def list_nodes(
        self, account_endpoint: str, pool: str, states: tuple[str, ...], limit: int
    ) -> list[Json]:
        """ComputeNode_List with ``$filter`` on state; at most ``limit`` nodes (one page)."""
        client = self.client(account_endpoint)
        expr = " or ".join(f"state eq '{s.lower()}'" for s in states)

        async def collect() -> list[Json]:
            out: list[Json] = []
            pages = client.list_nodes(pool, filter=expr, max_results=min(limit, 1000)).by_page()
            async for page in pages:
                async for node in page:
                    out.append(_wire(node))
                    if len(out) >= limit:
                        return out
            return out

        return await arm("Batch_ListNodes", collect())

    async def resize(
        self,
        account_endpoint: str,
        pool: str,
        dedicated: int,
        low_priority: int,
        resize_timeout: timedelta,
        deallocation: str,
    ) -> None:
        """Pool_Resize: starts a resize even when the targets equal the pool's current ones."""
        options = models.BatchPoolResizeOptions(
            target_dedicated_nodes=dedicated,
            target_low_priority_nodes=low_priority,
            resize_timeout=resize_timeout,
            node_deallocation_option=deallocation.lower(),
        )
        resources.check_write("Batch_ResizePool", f"{account_endpoint}/pools/{pool}")
        await arm("Batch_ResizePool", self.client(account_endpoint).begin_resize_pool(pool, options))

    async def remove_nodes(
        self, account_endpoint: str, pool: str, node_ids: tuple[str, ...], deallocation: str
    ) -> None:
        """Pool_RemoveNodes (at most 100 per request; Batch lowers the pool's target by as many)."""
        options = models.BatchNodeRemoveOptions(
            node_ids=list(node_ids[:REMOVE_NODES_MAX]), node_deallocation_option=deallocation.lower()
        )
        resources.check_write("Batch_RemoveNodes", f"{account_endpoint}/pools/{pool}")
        await arm("Batch_RemoveNodes", self.client(account_endpoint).begin_remove_nodes(pool, options))

    async def close(self) -> None:
        for client in self._clients.values():
            await client.close()
        self._clients.clear()
