"""One credential, one SDK client per (service, subscription), shared by every reconcile.

Clients are created lazily and reused so connection pools and cached tokens are shared; the
operator's cleanup handler closes them.

The api-versions are pinned here, per resource-provider area, instead of taken from the installed
SDK: an SDK upgrade then never changes what the operator sends (a brand-new version may not be
served in every region yet: ARM answers 400 NoRegisteredProviderFound there). Raise a pin on
purpose, after checking the release notes of that api-version.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from azure.core.pipeline import PipelineRequest
from azure.core.pipeline.policies import SansIOHTTPPolicy
from azure.identity.aio import DefaultAzureCredential
from azure.mgmt.batch.aio import BatchManagementClient
from azure.mgmt.compute.aio import ComputeManagementClient

from azbatch_operator import metrics
from azbatch_operator.azure.cloud import Cloud, cloud_from_env

#: Microsoft.Batch (azure-mgmt-batch takes one api-version per client).
BATCH_API_VERSION = "2025-06-01"
#: Microsoft.Compute: the SDK sends one version per operation group; these are the stable
#: versions of the Compute, Disk and Gallery resource providers the operator is tested against.
COMPUTE_API_VERSIONS: dict[str, str] = {
    "compute": "2025-04-01",  # virtualMachines, images, locations/operations
    "disk": "2025-01-02",  # disks, snapshots, locations/DiskOperations
    "gallery": "2025-03-03",  # galleries, images, versions, locations/capsOperations
}
_DISK_TYPES = ("/disks", "/snapshots", "/diskoperations/")
_GALLERY_TYPES = ("/galleries", "/capsoperations/")


def compute_area(path: str) -> str:
    """Which Compute resource provider a request path belongs to (key of COMPUTE_API_VERSIONS)."""
    low = path.lower()
    if any(t in low for t in _GALLERY_TYPES):
        return "gallery"
    if any(t in low for t in _DISK_TYPES):
        return "disk"
    return "compute"


class PinComputeApiVersion(SansIOHTTPPolicy[Any, Any]):
    """Rewrites `api-version` on every Compute request to the pinned version of its area."""

    def on_request(self, request: PipelineRequest[Any]) -> None:
        http = request.http_request
        http.url = pin_api_version(http.url, COMPUTE_API_VERSIONS[compute_area(urlsplit(http.url).path)])


def pin_api_version(url: str, version: str) -> str:
    """`url` with its `api-version` query parameter set to `version` (other parameters kept)."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    if not any(k == "api-version" for k, _ in query):
        return url
    pinned = [(k, version if k == "api-version" else v) for k, v in query]
    return urlunsplit(parts._replace(query=urlencode(pinned, safe="/$")))


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
            self._compute[key] = ComputeManagementClient(
                self._credential,
                subscription_id,
                per_call_policies=[PinComputeApiVersion()],
                **self._common(),
            )
        return self._compute[key]

    def batch(self, subscription_id: str) -> BatchManagementClient:
        key = subscription_id.lower()
        if key not in self._batch:
            self._batch[key] = BatchManagementClient(
                self._credential, subscription_id, api_version=BATCH_API_VERSION, **self._common()
            )
        return self._batch[key]

    async def close(self) -> None:
        for compute in self._compute.values():
            await compute.close()
        for batch in self._batch.values():
            await batch.close()
        self._compute.clear()
        self._batch.clear()
        await self._credential.close()
