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


async def test_a_lost_response_is_retried_and_a_create_if_missing_meets_its_own_pool(
    batch: Any, sim: SimulatorThread
) -> None:
    """dropResponse: the PUT is carried out, its answer lost; the SDK sends it again and Batch
    answers 412 to If-None-Match: * (the pool the first PUT made exists)."""
    from azure.core import MatchConditions

    await batch.batch_account.get(BATCH_RG, ACCOUNT)
    sim.reset_requests()
    sim.faults({"method": "PUT", "pathRegex": "/pools/lost$", "dropResponse": True, "count": 1})
    with pytest.raises(HttpResponseError) as refused:
        await batch.pool.create(
            BATCH_RG, ACCOUNT, "lost", pool_body(), match_condition=MatchConditions.IfMissing
        )
    assert refused.value.status_code == 412
    assert (await batch.pool.get(BATCH_RG, ACCOUNT, "lost")).name == "lost"
    statuses = {(e["operation"], e["status"]) for e in sim.requests()["entries"]}
    assert {("Pool_Create", 0), ("Pool_Create", 412)} <= statuses


async def test_a_delayed_request_is_carried_out_when_its_client_goes_away(
    cred: Any, sim: SimulatorThread
) -> None:
    """ARM finishes a request it has received, whether or not the client still waits for it."""
    import asyncio

    sim.faults({"method": "PUT", "pathRegex": "/pools/gone$", "delayMs": 1500, "count": 1})
    async with batch_client(sim, cred, retry_total=0) as batch:
        put = asyncio.ensure_future(batch.pool.create(BATCH_RG, ACCOUNT, "gone", pool_body()))
        await asyncio.sleep(0.5)
        put.cancel()  # the client gives up (its connection closes) while the PUT is held
        with pytest.raises(asyncio.CancelledError):
            await put
    async with batch_client(sim, cred) as batch:
        for _ in range(40):
            try:
                found = await batch.pool.get(BATCH_RG, ACCOUNT, "gone")
                break
            except HttpResponseError:
                await asyncio.sleep(0.1)
        else:
            raise AssertionError("the held PUT was dropped with its client")
    assert found.name == "gone"
