"""What every handler shares for the life of the operator process, built once at start-up."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

import kopf

from azbatch_operator.azure.clients import AzureClients
from azbatch_operator.azure.resources import Resources
from azbatch_operator.kube import StatusWriter
from azbatch_operator.settings import Settings


@dataclass
class Runtime:
    settings: Settings
    azure: AzureClients
    resources: Resources
    status: StatusWriter
    rng: random.Random = field(default_factory=random.Random)

    async def close(self) -> None:
        await self.status.close()
        await self.azure.close()


_runtime: Runtime | None = None


def get() -> Runtime:
    if _runtime is None:
        raise kopf.TemporaryError("operator runtime not initialised yet", delay=1)
    return _runtime


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
    return Runtime(settings, azure, Resources(azure), StatusWriter.login(kopf_settings))
