"""The limit the operator is compared to: the same pools created by a plain asyncio script.

`python -m bench.direct --account-id ID --image ID --pools N` (environment: the AZURE_* variables the
simulator prints) creates every pool with azure-mgmt-batch `.aio`, then lists the account's pools
every `--poll` seconds (Pool_ListByBatchAccount, all pages) until every one is Steady at its target,
and prints one JSON line with the seconds it took and the requests it sent.  The same success
criterion as the operator's Ready: allocationState Steady, current == target.

A competent baseline: it paces itself to ARM's budget (token buckets of ARM's size: writes 200 @
10/s, reads 250 @ 25/s) instead of drawing 429s, and when a 429 still comes it waits the
``Retry-After`` the response names (the SDK's own retries are off, so every request is counted
here). About one write per pool plus a listing per poll: roughly two requests per pool.
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

from azbatch_operator.azure.budget import ArmBudget
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
) -> dict[str, float]:
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
        retry_total=0,  # 429s are paced here, by their Retry-After
    )
    gate = asyncio.Semaphore(concurrency)
    budget = ArmBudget(25.0, 10.0)
    rg, account = rid.resource_group or "", rid.names[0]
    sent = {"requests": 0, "throttled": 0}

    async def paced(kind: str, call: Callable[[], Awaitable[T]]) -> T:
        """One request within ARM's budget; a 429 pauses the bucket for its Retry-After."""
        while True:
            await budget.take(rid.subscription, kind)
            sent["requests"] += 1
            try:
                async with gate:
                    return await call()
            except HttpResponseError as exc:
                if exc.status_code != 429:
                    raise
                sent["throttled"] += 1
                headers = getattr(exc.response, "headers", None) or {}
                wait = float(headers.get("Retry-After") or 1)
                budget.throttled(rid.subscription, kind, wait)

    async def create(i: int) -> None:
        name = f"direct{i:05d}"
        await paced("write", lambda: client.pool.create(rg, account, name, pool_body(image, dedicated)))

    async def listing() -> list[Any]:
        pages = client.pool.list_by_batch_account(rg, account).by_page()
        found: list[Any] = []
        while True:
            page = await paced("read", pages.__anext__)
            found.extend([p async for p in page])
            if not getattr(pages, "continuation_token", None):
                return found

    async with client, credential:
        await credential.get_token(endpoint.rstrip("/") + "/.default")  # not on the clock
        start = time.monotonic()
        await asyncio.gather(*(create(i) for i in range(pools)))
        while True:
            await asyncio.sleep(poll)
            done = [
                p
                for p in await listing()
                if p.name.startswith("direct")
                and p.allocation_state == "Steady"
                and p.current_dedicated_nodes == dedicated
            ]
            if len(done) >= pools:
                return {"seconds": time.monotonic() - start, **sent}


def main() -> None:
    parser = argparse.ArgumentParser(prog="bench.direct")
    parser.add_argument("--account-id", required=True)
    parser.add_argument("--image", required=True)
    parser.add_argument("--pools", type=int, default=1000)
    parser.add_argument("--dedicated", type=int, default=2)
    parser.add_argument("--poll", type=float, default=1.0)
    parser.add_argument("--concurrency", type=int, default=100)
    args = parser.parse_args()
    result = asyncio.run(
        run(args.account_id, args.image, args.pools, args.dedicated, args.poll, args.concurrency)
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
