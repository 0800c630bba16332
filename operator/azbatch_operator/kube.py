"""The Kubernetes calls the operator makes outside kopf: status patches and its leader Lease.

Reconcilers run as kopf daemons (one long-lived task per object, sleeping between Azure polls),
and kopf applies a daemon's `patch` only when the daemon function returns. So status is written
here, through the same login kopf uses (`kubeauth.Login`: the official client's kubeconfig and
in-cluster loading, a fresh header per request, one re-login on 401). Every request has a
timeout, and each `KubeApi` has its own connection pool, so the Lease is never stuck behind a
burst of status patches.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

import aiohttp
import kopf

from azbatch_operator.kubeauth import Login

logger = logging.getLogger(__name__)

GROUP, VERSION = "azbatch.io", "v1alpha1"
#: Shown in managedFields, so `kubectl get --show-managed-fields` says who wrote status.
FIELD_MANAGER = "azbatch-operator"
#: Status patches and other calls without a tighter deadline of their own.
DEFAULT_TIMEOUT_SECONDS = 30.0


class ObjectGone(Exception):
    """The object was deleted while we were working on it: nothing left to report to."""


class NotLeading(Exception):
    """A write was refused locally: this replica does not hold the leader Lease (any more)."""


class KubeApi:
    """A minimal async client for the few calls the operator makes outside kopf."""

    def __init__(self, login: Login, gate: Callable[[], bool] | None = None, limit: int = 20) -> None:
        self.login = login
        self._gate = gate
        self._limit = limit
        self._session: aiohttp.ClientSession | None = None

    @property
    def default_namespace(self) -> str:
        return self.login.credentials.namespace

    async def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        content_type: str = "application/json",
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
    ) -> tuple[int, Any]:
        """(status, parsed JSON body or text) of one request; raises on timeouts and lost connections."""
        if self._session is None or self._session.closed:
            self._session = self.login.session(self._gate, self._limit)
        data = None if body is None else json.dumps(body)
        server = self.login.credentials.server.rstrip("/")
        async with self._session.request(
            method,
            server + path,
            data=data,
            headers={"Content-Type": content_type},
            timeout=aiohttp.ClientTimeout(total=max(0.05, timeout)),
        ) as resp:
            text = await resp.text()
            try:
                return resp.status, json.loads(text) if text else None
            except ValueError:
                return resp.status, text

    async def reconnect(self) -> None:
        """Drop pooled connections (after a timeout a kept-alive connection may be half-open)."""
        await self.close()

    async def read_secret(self, namespace: str, name: str) -> dict[str, Any] | None:
        """GET one Secret (None when it does not exist); BatchPool secretRefs read through this.
        The answer holds secret values: never log it or put it in an exception."""
        code, answer = await self.request("GET", f"/api/v1/namespaces/{namespace}/secrets/{name}")
        if code == 404:
            return None
        if code >= 400 or not isinstance(answer, dict):
            reason = answer.get("reason", "") if isinstance(answer, dict) else ""
            raise kopf.TemporaryError(f"reading Secret {namespace}/{name} failed: {code} {reason}")
        return answer

    async def close(self) -> None:
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()


class StatusRejected(kopf.TemporaryError):
    """The apiserver refused a status patch (e.g. 422: a value beyond the CRD's limits)."""

    def __init__(self, plural: str, namespace: str, name: str, code: int, answer: Any) -> None:
        self.code = code
        details = answer if isinstance(answer, dict) else {}
        self.reason = str(details.get("reason") or code)
        self.detail = str(details.get("message") or answer or "")[:1000]
        super().__init__(
            f"status patch of {plural} {namespace}/{name} rejected: {code} {self.reason}: {self.detail}"
        )


class StatusWriter:
    """Merge-patches the status subresource of our custom resources, only while allowed to act."""

    def __init__(self, api: KubeApi, may_act: Callable[[], bool] = lambda: True) -> None:
        self._api = api
        self._may_act = may_act

    async def patch_status(self, plural: str, namespace: str, name: str, status: dict[str, Any]) -> None:
        if not self._may_act():
            raise NotLeading(f"status of {plural}/{namespace}/{name} not written: not the leader")
        path = (
            f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/{plural}/{name}/status"
            f"?fieldManager={FIELD_MANAGER}"
        )
        try:
            code, answer = await self._api.request(
                "PATCH", path, {"status": status}, content_type="application/merge-patch+json"
            )
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise kopf.TemporaryError(f"status patch of {namespace}/{name} failed: {exc!r}") from exc
        if code == 404:
            raise ObjectGone(f"{plural}/{namespace}/{name}")
        if code >= 400:
            raise StatusRejected(plural, namespace, name, code, answer)
