"""ARM throttling (token buckets), fault injection and request accounting."""

from __future__ import annotations

import time
from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError

from azuresim.testing import SimulatorThread
from tests.sim.conftest import ACCOUNT, BATCH_RG, CLIENT, batch_client
from tests.sim.test_batch import pool_body

pytestmark = pytest.mark.sim
ACCOUNT_PATH = f"/batchAccounts/{ACCOUNT}$"


async def test_injected_429_is_retried_after_retry_after(batch: Any, sim: SimulatorThread) -> None:
    await batch.batch_account.get(BATCH_RG, ACCOUNT)  # token acquired, connection warm
    sim.reset_requests()
    sim.faults({"method": "GET", "pathRegex": ACCOUNT_PATH, "status": 429, "count": 1, "retryAfter": 1})
    start = time.monotonic()
    acct = await batch.batch_account.get(BATCH_RG, ACCOUNT)
    assert acct.name == ACCOUNT
    assert time.monotonic() - start >= 0.9
    stats = sim.requests()
    statuses = {(e["operation"], e["status"]): e["count"] for e in stats["entries"]}
    assert statuses[("BatchAccount_Get", 429)] == 1
    assert statuses[("BatchAccount_Get", 200)] == 1
    assert stats["byPrincipal"][CLIENT] >= 1


async def test_injected_500_and_dropped_connection_are_retried(batch: Any, sim: SimulatorThread) -> None:
    await batch.batch_account.get(BATCH_RG, ACCOUNT)
    sim.faults({"pathRegex": ACCOUNT_PATH, "status": 503, "count": 1, "retryAfter": 0})
    assert (await batch.batch_account.get(BATCH_RG, ACCOUNT)).name == ACCOUNT
    sim.faults({"pathRegex": ACCOUNT_PATH, "drop": True, "count": 1})
    assert (await batch.batch_account.get(BATCH_RG, ACCOUNT)).name == ACCOUNT
    assert all(f["fired"] == 1 for f in sim._client().list_faults())
    sim.clear_faults()
    assert sim._client().list_faults() == []


async def test_latency_fault(batch: Any, sim: SimulatorThread) -> None:
    await batch.batch_account.get(BATCH_RG, ACCOUNT)
    sim.faults({"pathRegex": ACCOUNT_PATH, "delayMs": 300, "count": 1})
    start = time.monotonic()
    await batch.batch_account.get(BATCH_RG, ACCOUNT)
    assert time.monotonic() - start >= 0.3


async def test_bucket_exhaustion(sim: SimulatorThread, cred: Any) -> None:
    sim.seed({"throttling": {"reads": {"capacity": 3, "refillPerSecond": 0.5}}})
    async with batch_client(sim, cred, retry_total=0) as batch:
        remaining = []
        for _ in range(3):
            resp = await batch.batch_account.get(BATCH_RG, ACCOUNT, cls=lambda r, d, h: r.http_response)
            remaining.append(int(resp.headers["x-ms-ratelimit-remaining-subscription-reads"]))
        assert remaining == [2, 1, 0]
        with pytest.raises(HttpResponseError) as exc:
            await batch.batch_account.get(BATCH_RG, ACCOUNT)
    assert exc.value.status_code == 429
    assert exc.value.error.code == "SubscriptionRequestsThrottled"
    assert 1 <= int(exc.value.response.headers["Retry-After"]) <= 2
    assert exc.value.response.headers["x-ms-ratelimit-remaining-subscription-reads"] == "0"
    # writes have their own bucket
    async with batch_client(sim, cred, retry_total=0) as batch:
        pool = await batch.pool.create(BATCH_RG, ACCOUNT, "w", pool_body())
        assert pool.name == "w"
