"""Which Azure cloud to talk to: endpoints from AZURE_CLOUD, overridable one by one.

`AZURE_RESOURCE_MANAGER_ENDPOINT` points the SDKs at another ARM (the simulator, Azure Stack);
the token audience stays the cloud's unless `AZURE_RESOURCE_MANAGER_AUDIENCE` says otherwise,
because ARM validates the audience, not the URL the client used.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Cloud:
    name: str
    resource_manager: str
    audience: str
    authority_host: str

    @property
    def scope(self) -> str:
        return self.audience.rstrip("/") + "/.default"


_CLOUDS = {
    "AzureCloud": Cloud(
        "AzureCloud",
        "https://management.azure.com",
        "https://management.azure.com/",
        "https://login.microsoftonline.com",
    ),
    "AzureChinaCloud": Cloud(
        "AzureChinaCloud",
        "https://management.chinacloudapi.cn",
        "https://management.chinacloudapi.cn/",
        "https://login.chinacloudapi.cn",
    ),
    "AzureUSGovernment": Cloud(
        "AzureUSGovernment",
        "https://management.usgovcloudapi.net",
        "https://management.usgovcloudapi.net/",
        "https://login.microsoftonline.us",
    ),
}


class CloudConfigError(ValueError):
    """AZURE_CLOUD names a cloud we do not know."""


def cloud_from_env(env: Mapping[str, str]) -> Cloud:
    name = env.get("AZURE_CLOUD") or "AzureCloud"
    if name not in _CLOUDS:
        raise CloudConfigError(f"AZURE_CLOUD={name!r} is not one of {', '.join(sorted(_CLOUDS))}")
    base = _CLOUDS[name]
    return Cloud(
        name=name,
        resource_manager=(env.get("AZURE_RESOURCE_MANAGER_ENDPOINT") or base.resource_manager).rstrip("/"),
        audience=env.get("AZURE_RESOURCE_MANAGER_AUDIENCE") or base.audience,
        authority_host=env.get("AZURE_AUTHORITY_HOST") or base.authority_host,
    )
