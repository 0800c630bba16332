"""Leader election with a coordination.k8s.io Lease, so several replicas can run safely.

kopf's own peering pauses operators of lower priority, but replicas of one Deployment share a
priority, so only a Lease gives "exactly one acts". The operator's start-up waits here until it
holds the Lease; the holder renews it in the background and stops the process if it loses it
(the Deployment restarts it as a standby), so two leaders never act at once for longer than a
renew period.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from azbatch_operator.kube import KubeApi

logger = logging.getLogger(__name__)

LEASE_NAME = "azbatch-operator-leader"


def _micro(now: datetime) -> str:
    return now.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse(text: str | None) -> datetime | None:
    if not text:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@dataclass(frozen=True)
class LeaseView:
    holder: str | None
    renewed: datetime | None
    duration: float

    def expired(self, now: datetime) -> bool:
        return self.renewed is None or now - self.renewed > timedelta(seconds=self.duration)


def view(lease: dict[str, Any]) -> LeaseView:
    spec = lease.get("spec") or {}
    return LeaseView(
        spec.get("holderIdentity"),
        _parse(spec.get("renewTime")),
        float(spec.get("leaseDurationSeconds") or 15),
    )


def identity() -> str:
    return f"{os.environ.get('POD_NAME') or socket.gethostname()}-{os.getpid()}"


class LeaderElector:
    def __init__(self, api: KubeApi, namespace: str, lease_seconds: float, me: str | None = None) -> None:
        self._api = api
        self._path = f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases"
        self._lease_seconds = lease_seconds
        self.me = me or identity()

    def _body(self, now: datetime, acquired: datetime, version: str | None) -> dict[str, Any]:
        meta: dict[str, Any] = {"name": LEASE_NAME}
        if version:
            meta["resourceVersion"] = version
        return {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": meta,
            "spec": {
                "holderIdentity": self.me,
                "leaseDurationSeconds": max(1, round(self._lease_seconds)),
                "acquireTime": _micro(acquired),
                "renewTime": _micro(now),
            },
        }

    async def try_acquire(self) -> bool:
        """One attempt: create the Lease, or take it over when its holder stopped renewing."""
        now = datetime.now(UTC)
        code, lease = await self._api.request("GET", f"{self._path}/{LEASE_NAME}")
        if code == 404:
            code, _ = await self._api.request("POST", self._path, self._body(now, now, None))
            return code == 201
        if code != 200:
            logger.warning("reading the leader Lease failed: %s %s", code, lease)
            return False
        current = view(lease)
        if current.holder != self.me and not current.expired(now):
            return False
        acquired = now if current.holder != self.me else (_parse(lease["spec"].get("acquireTime")) or now)
        version = lease["metadata"]["resourceVersion"]
        code, _ = await self._api.request(
            "PUT", f"{self._path}/{LEASE_NAME}", self._body(now, acquired, version)
        )
        return code == 200  # 409: somebody else won the race

    async def acquire(self, leading: asyncio.Event) -> None:
        """Wait until this process leads, set `leading`, then keep renewing in the background."""
        logged = False
        while not await self.try_acquire():
            if not logged:
                logger.info("standing by: another replica holds Lease %s", LEASE_NAME)
                logged = True
            await asyncio.sleep(max(1.0, self._lease_seconds / 5))
        logger.info("acquired leadership as %s", self.me)
        leading.set()
        await self._renew_forever()

    async def _renew_forever(self) -> None:
        deadline = asyncio.get_running_loop().time() + self._lease_seconds
        while True:
            await asyncio.sleep(self._lease_seconds / 3)
            try:
                ok = await self.try_acquire()
            except Exception as exc:  # network trouble: keep trying until the deadline
                logger.warning("renewing the leader Lease failed: %s", exc)
                ok = False
            now = asyncio.get_running_loop().time()
            if ok:
                deadline = now + self._lease_seconds
            elif now > deadline:
                logger.error("lost leadership (Lease %s not renewed in time): stopping", LEASE_NAME)
                os.kill(os.getpid(), signal.SIGTERM)
                return

    async def release(self) -> None:
        """On a clean stop, hand over at once instead of making the standby wait for expiry."""
        code, lease = await self._api.request("GET", f"{self._path}/{LEASE_NAME}")
        if code == 200 and view(lease).holder == self.me:
            lease["spec"]["renewTime"] = _micro(datetime(1970, 1, 1, tzinfo=UTC))
            await self._api.request("PUT", f"{self._path}/{LEASE_NAME}", lease)
