"""The Kubernetes calls the operator makes outside kopf: status patches and its leader Lease.

Reconcilers run as kopf daemons (one long-lived task per object, sleeping between Azure polls),
and kopf applies a daemon's `patch` only when the daemon function returns. So status is written
here, with the same credentials kopf logged in with (`kopf.login_with_*`, public API).
"""

from __future__ import annotations

import base64
import json
import logging
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import kopf

logger = logging.getLogger(__name__)

GROUP, VERSION = "azbatch.io", "v1alpha1"
#: Shown in managedFields, so `kubectl get --show-managed-fields` says who wrote status.
FIELD_MANAGER = "azbatch-operator"


class ObjectGone(Exception):
    """The object was deleted while we were working on it: nothing left to report to."""


@dataclass(frozen=True)
class Connection:
    server: str
    headers: dict[str, str]
    ssl_context: ssl.SSLContext | bool
    default_namespace: str


def _as_bytes(data: str | bytes) -> bytes:
    """PEM bytes from kopf's inline data, which keeps a kubeconfig's base64 encoding as is."""
    raw = data.encode() if isinstance(data, str) else data
    return raw if raw.lstrip().startswith(b"-----BEGIN") else base64.b64decode(raw)


def connection_from(info: Any) -> Connection:
    """Build TLS material from a kopf ConnectionInfo (paths or inline data)."""
    context: ssl.SSLContext | bool
    if info.insecure:
        context = False
    else:
        context = ssl.create_default_context()
        if info.ca_path:
            context.load_verify_locations(cafile=str(info.ca_path))
        elif info.ca_data:
            context.load_verify_locations(cadata=_as_bytes(info.ca_data).decode())
        cert, key = info.certificate_path, info.private_key_path
        if info.certificate_data and info.private_key_data:
            # ssl only loads client certificates from files: keep them in a private temp dir.
            folder = Path(tempfile.mkdtemp(prefix="azbatch-kube-"))
            cert, key = folder / "client.crt", folder / "client.key"
            cert.write_bytes(_as_bytes(info.certificate_data))
            key.touch(mode=0o600)
            key.write_bytes(_as_bytes(info.private_key_data))
        if cert and key:
            context.load_cert_chain(str(cert), str(key))
    headers: dict[str, str] = {}
    if info.token:
        headers["Authorization"] = f"{info.scheme or 'Bearer'} {info.token}"
    namespace = info.default_namespace or "default"
    return Connection(info.server.rstrip("/"), headers, context, namespace)


class KubeApi:
    """A minimal async client for the few calls the operator makes outside kopf."""

    def __init__(self, connection: Connection) -> None:
        self._connection = connection
        self._session: aiohttp.ClientSession | None = None

    @classmethod
    def login(cls, settings: kopf.OperatorSettings) -> KubeApi:
        info = kopf.login_with_service_account(settings=settings) or kopf.login_with_kubeconfig(
            settings=settings
        )
        if info is None:
            raise kopf.PermanentError("no Kubernetes credentials: neither in-cluster nor a kubeconfig")
        return cls(connection_from(info))

    @property
    def default_namespace(self) -> str:
        return self._connection.default_namespace

    async def request(
        self, method: str, path: str, body: Any = None, content_type: str = "application/json"
    ) -> tuple[int, Any]:
        """(status, parsed JSON body or text) of one request to the apiserver."""
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(ssl=self._connection.ssl_context, limit=20)
            )
        headers = {**self._connection.headers, "Content-Type": content_type}
        data = None if body is None else json.dumps(body)
        async with self._session.request(
            method, self._connection.server + path, data=data, headers=headers
        ) as resp:
            text = await resp.text()
            try:
                return resp.status, json.loads(text) if text else None
            except ValueError:
                return resp.status, text

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
            await self._session.close()
            self._session = None


class StatusWriter:
    """Merge-patches the status subresource of our custom resources."""

    def __init__(self, api: KubeApi) -> None:
        self._api = api

    async def patch_status(self, plural: str, namespace: str, name: str, status: dict[str, Any]) -> None:
        path = (
            f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/{plural}/{name}/status"
            f"?fieldManager={FIELD_MANAGER}"
        )
        code, answer = await self._api.request(
            "PATCH", path, {"status": status}, content_type="application/merge-patch+json"
        )
        if code == 404:
            raise ObjectGone(f"{plural}/{namespace}/{name}")
        if code >= 400:
            raise kopf.TemporaryError(f"status patch of {namespace}/{name} failed: {code} {answer}")
