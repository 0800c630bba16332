"""One credential, one SDK client per (service, subscription), shared by every reconcile.

Clients are created lazily and reused so connection pools and cached tokens are shared; the
operator's cleanup handler closes them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from azure.identity.aio import DefaultAzureCredential
from azure.mgmt.batch.aio import BatchManagementClient
from azure.mgmt.compute.aio import ComputeManagementClient

from azbatch_operator import metrics
from azbatch_operator.azure.cloud import Cloud, cloud_from_env


class AzureClients:
    def __init__(self, cloud: Cloud, credential: Any, retry_total: int = 3) -> None:
        self.cloud = cloud
        self._credential: Any = credential
        self._retry_total = retry_total
        self._compute: dict[str, ComputeManagementClient] = {}
        self._batch: dict[str, BatchManagementClient] = {}

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> AzureClients:
        env = os.environ if env is None else env
        cloud = cloud_from_env(env)
        # Only the environment / workload-identity / managed-identity links of the chain make
        # sense for a headless operator; developer-tool links would only slow failures down.
        credential = DefaultAzureCredential(
            authority=cloud.authority_host,
            exclude_cli_credential=True,
            exclude_powershell_credential=True,
            exclude_developer_cli_credential=True,
            exclude_visual_studio_code_credential=True,
            exclude_shared_token_cache_credential=True,
            exclude_interactive_browser_credential=True,
        )
        return cls(cloud, credential)

    @property
    def credential(self) -> Any:
        """The one azure-identity credential, also used for the Batch data plane."""
        return self._credential

    def _common(self) -> dict[str, Any]:
        return {
            "base_url": self.cloud.resource_manager,
            "credential_scopes": [self.cloud.scope],
            "retry_total": self._retry_total,
            "raw_response_hook": metrics.observe_response,
        }

    def compute(self, subscription_id: str) -> ComputeManagementClient:
        key = subscription_id.lower()
        if key not in self._compute:
            self._compute[key] = ComputeManagementClient(self._credential, subscription_id, **self._common())
        return self._compute[key]

    def batch(self, subscription_id: str) -> BatchManagementClient:
        key = subscription_id.lower()
        if key not in self._batch:
            self._batch[key] = BatchManagementClient(self._credential, subscription_id, **self._common())
        return self._batch[key]

    async def close(self) -> None:
        for compute in self._compute.values():
            await compute.close()
        for batch in self._batch.values():
            await batch.close()
        self._compute.clear()
        self._batch.clear()
        await self._credential.close()
