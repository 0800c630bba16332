"""The limit the operator is compared to: the same pools created by a plain asyncio script.

`python -m bench.direct --account-id ID --image ID --pools N` (environment: the AZURE_* variables the
simulator prints) creates every pool with azure-mgmt-batch `.aio`, then polls each one (GET every
`--poll` seconds) until it is Steady at its target, and prints one JSON line with the seconds it took.
The same success criterion as the operator's Ready: allocationState Steady, current == target.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from azure.core.exceptions import HttpResponseError
from azure.identity.aio import ClientSecretCredential
from azure.mgmt.batch.aio import BatchManagementClient

from azbatch_operator.reconcile import arm_ids

T = TypeVar("T")


def pool_body(image: str, dedicated: int) -> dict[str, Any]:
    return {
        "properties": {
            "vmSize": "Standard_D2s_v5",
            "deploymentConfiguration": {
                "virtualMachineConfiguration": {
                    "imageReference": {"id": image},
                    "nodeAgentSkuId": "batch.node.ubuntu 22.04",
                }
            },
            "scaleSettings": {"fixedScale": {"targetDedicatedNodes": dedicated, "resizeTimeout": "PT15M"}},
        }
    }


async def run(
    account_id: str, image: str, pools: int, dedicated: int, poll: float, concurrency: int
) -> float:
    rid = arm_ids.parse(account_id)
    credential = ClientSecretCredential(
        os.environ["AZURE_TENANT_ID"],
        os.environ["AZURE_CLIENT_ID"],
        os.environ["AZURE_CLIENT_SECRET"],
        authority=os.environ["AZURE_AUTHORITY_HOST"],
    )
    endpoint = os.environ["AZURE_RESOURCE_MANAGER_ENDPOINT"]
    client = BatchManagementClient(
        credential,
        rid.subscription,
        base_url=endpoint,
        credential_scopes=[endpoint.rstrip("/") + "/.default"],
    )
    gate = asyncio.Semaphore(concurrency)
    rg, account = rid.resource_group or "", rid.names[0]

    async def persist(call: Callable[[], Awaitable[T]]) -> T:
        """The SDK retries 429s itself (honouring Retry-After) up to 10 times; a script keeps going."""
        while True:
            try:
                async with gate:
                    return await call()
            except HttpResponseError as exc:
                if exc.status_code != 429:
                    raise
                await asyncio.sleep(1)

    async def one(i: int) -> None:
        name = f"direct{i:05d}"
        await persist(lambda: client.pool.create(rg, account, name, pool_body(image, dedicated)))
        while True:
            await asyncio.sleep(poll)
            pool = await persist(lambda: client.pool.get(rg, account, name))
            if pool.allocation_state == "Steady" and pool.current_dedicated_nodes == dedicated:
                return

    async with client, credential:
        await credential.get_token(endpoint.rstrip("/") + "/.default")  # not on the clock
        start = time.monotonic()
        await asyncio.gather(*(one(i) for i in range(pools)))
        return time.monotonic() - start


def main() -> None:
    parser = argparse.ArgumentParser(prog="bench.direct")
    parser.add_argument("--account-id", required=True)
    parser.add_argument("--image", required=True)
    parser.add_argument("--pools", type=int, default=1000)
    parser.add_argument("--dedicated", type=int, default=2)
    parser.add_argument("--poll", type=float, default=1.0)
    parser.add_argument("--concurrency", type=int, default=100)
    args = parser.parse_args()
    seconds = asyncio.run(
        run(args.account_id, args.image, args.pools, args.dedicated, args.poll, args.concurrency)
    )
    print(json.dumps({"seconds": seconds}))


if __name__ == "__main__":
    main()
