"""Measure the simulator: pool GET throughput and RSS with many pools (`python -m azuresim.bench`).

Starts `azuresim serve` as a subprocess (so its RSS is its own), seeds N pools, then drives pool GETs
with an aiohttp client at a given concurrency and prints a small table.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import aiohttp
import yaml

from azuresim.admin import AdminClient, wait_ready

TENANT = "00000000-0000-0000-0000-0000000000aa"
CLIENT = "00000000-0000-0000-0000-0000000000bb"
SUB = "00000000-0000-0000-0000-0000000000cc"


def world(pools: int) -> dict[str, Any]:
    gallery_version = f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Compute/galleries/g"
    gallery_version += "/images/d/versions/1.0.0"
    pool_docs = [
        {
            "name": f"pool{i:05d}",
            "vmSize": "Standard_D2s_v5",
            "deploymentConfiguration": {
                "virtualMachineConfiguration": {
                    "imageReference": {"id": gallery_version},
                    "nodeAgentSkuId": "batch.node.ubuntu 22.04",
                }
            },
            "scaleSettings": {"fixedScale": {"targetDedicatedNodes": 2, "resizeTimeout": "PT15M"}},
        }
        for i in range(pools)
    ]
    return {
        "tenants": [{"id": TENANT, "principals": [{"clientId": CLIENT, "secret": "s"}]}],
        "subscriptions": [
            {
                "id": SUB,
                "tenant": TENANT,
                "roleAssignments": [{"principal": CLIENT, "scope": f"/subscriptions/{SUB}", "role": "Owner"}],
                "resourceGroups": [
                    {
                        "name": "rg",
                        "location": "westeurope",
                        "images": [{"name": "img"}],
                        "galleries": [
                            {"name": "g", "images": [{"name": "d", "versions": [{"name": "1.0.0"}]}]}
                        ],
                        "batchAccounts": [
                            {
                                "name": "acct",
                                "poolQuota": pools + 10,
                                "dedicatedCoreQuota": 10**9,
                                "pools": pool_docs,
                            }
                        ],
                    }
                ],
            }
        ],
        "throttling": {"enabled": False},
    }


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


async def drive(
    url: str, ca: str, token: str, pools: int, seconds: float, concurrency: int
) -> tuple[int, int]:
    ctx = ssl.create_default_context(cafile=ca)
    headers = {"Authorization": f"Bearer {token}"}
    base = f"{url}/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Batch/batchAccounts/acct/pools/"
    done = 0
    errors = 0
    deadline = time.monotonic() + seconds
    connector = aiohttp.TCPConnector(ssl=ctx, limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as http:

        async def worker(k: int) -> None:
            nonlocal done, errors
            i = k
            while time.monotonic() < deadline:
                async with http.get(
                    f"{base}pool{i % pools:05d}?api-version=2025-06-01", headers=headers
                ) as r:
                    await r.read()
                    if r.status == 200:
                        done += 1
                    else:
                        errors += 1
                i += concurrency

        await asyncio.gather(*(worker(k) for k in range(concurrency)))
    return done, errors


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="azuresim.bench")
    p.add_argument("--pools", type=int, default=1000)
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--concurrency", type=int, default=64)
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        seed = Path(tmp) / "world.yaml"
        seed.write_text(yaml.safe_dump(world(args.pools)))
        env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
        cmd = [sys.executable, "-m", "azuresim", "serve", "--seed", str(seed), "--state-dir", tmp]
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL)
        try:
            ready = wait_ready(tmp, 60)
            admin = AdminClient(ready["url"], ready["caFile"])
            time.sleep(0.5)
            rss_seeded = rss_kib(proc.pid)
            form = urllib.parse.urlencode(
                {
                    "grant_type": "client_credentials",
                    "client_id": CLIENT,
                    "client_secret": "s",
                    "scope": "https://management.azure.com/.default",
                }
            ).encode()
            ctx = ssl.create_default_context(cafile=ready["caFile"])
            with urllib.request.urlopen(f"{ready['url']}/{TENANT}/oauth2/v2.0/token", form, context=ctx) as r:
                token = __import__("json").loads(r.read())["access_token"]
            ok, errors = asyncio.run(
                drive(ready["url"], ready["caFile"], token, args.pools, args.seconds, args.concurrency)
            )
            rss_after = rss_kib(proc.pid)
            n = len(admin.resources("Microsoft.Batch/batchAccounts/pools"))
        finally:
            proc.terminate()
            proc.wait(15)
    print(f"pools seeded                 {n}")
    print(f"RSS after seeding            {rss_seeded / 1024:.1f} MiB")
    print(f"RSS after the GET run        {rss_after / 1024:.1f} MiB")
    print(
        f"pool GETs ({args.concurrency} concurrent)  {ok / args.seconds:.0f} req/s ({ok} ok, {errors} errors)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
