"""Contract:: how the operator logs in to Kubernetes, through the official `kubernetes` package.

`kubernetes.config` reads whatever a user's kubeconfig says (exec plugins such as kubelogin or
the gke/eks helpers, tokens, token files, client certificates, proxies) or the pod's service
account, exactly as the client library does. This module turns its result into TLS material and
an `Authorization` header kept in memory, and hands out one `Login` that kopf's session and the
operator's own sessions share: each request carries the current header, and a 401 makes the
login reload once (a rotated projected token, a re-run exec plugin) and retry.

No client key stays on disk: the client library writes `client-key-data` to a temp file while it
loads; those files go into a private directory that is removed as soon as their bytes are read.
The key is handed to `ssl` through an anonymous in-memory file (memfd) where Linux offers one.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import os
import shutil
import ssl
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp

logger = logging.getLogger(__name__)

SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")
#: Re-run an exec plugin this long before the expiry it announced (client-go refreshes early too).
EXPIRY_MARGIN_SECONDS = 30.0


class KubeLoginError(Exception):
    """No usable Kubernetes credentials: the message says where the operator looked."""


@dataclass(frozen=True)
class Credentials:
    """One login: where the apiserver is and how to prove who we are. Never logged as a whole."""

    server: str
    source: str
    namespace: str
    authorization: str | None = field(default=None, repr=False)
    ca_pem: bytes | None = field(default=None, repr=False)
    cert_pem: bytes | None = field(default=None, repr=False)
    key_pem: bytes | None = field(default=None, repr=False)
    insecure: bool = False
    tls_server_name: str | None = None
    proxy: str | None = None
    #: Wall-clock expiry announced by an exec plugin; None: valid until the apiserver says 401.
    expires: datetime | None = None

    def expired(self, now: datetime | None = None) -> bool:
        if self.expires is None:
            return False
        now = now or datetime.now(UTC)
        return (self.expires - now).total_seconds() <= EXPIRY_MARGIN_SECONDS

    def ssl_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cadata=self.ca_pem.decode() if self.ca_pem else None)
        if self.cert_pem and self.key_pem:
            with _in_memory_file(self.cert_pem) as cert, _in_memory_file(self.key_pem) as key:
                context.load_cert_chain(cert, key)
        if self.insecure:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context


@contextlib.contextmanager
def _in_memory_file(data: bytes) -> Iterator[str]:
    """A path `ssl` can read `data` from: a memfd (never on disk) or a 0600 file removed at once."""
    if hasattr(os, "memfd_create"):
        fd = os.memfd_create("azbatch-kube", 0)
        try:
            os.write(fd, data)
            yield f"/proc/self/fd/{fd}"
        finally:
            os.close(fd)
        return
    with tempfile.NamedTemporaryFile(prefix="azbatch-kube-") as handle:  # pragma: no cover
        handle.write(data)
        handle.flush()
        yield handle.name


def _read(path: str | None) -> bytes | None:
    return Path(path).read_bytes() if path else None


def _bearer(configuration: Any) -> str | None:
    """The Authorization header the client library would send (BearerToken, or the older key)."""
    api_key = configuration.api_key or {}
    for key in ("BearerToken", "authorization"):
        value = api_key.get(key)
        if value:
            # A token file written with `echo` ends in a newline; client-go trims it too.
            scheme, _, token = str(value).strip().partition(" ")
            return f"Bearer {token.strip()}" if scheme.lower() == "bearer" and token else str(value).strip()
    return None


def _in_cluster(environ: dict[str, str]) -> Credentials | None:
    if not environ.get("KUBERNETES_SERVICE_HOST") or not (SERVICE_ACCOUNT_DIR / "token").is_file():
        return None
    from kubernetes import client
    from kubernetes.config import incluster_config

    configuration = client.Configuration()
    incluster_config.InClusterConfigLoader(
        token_filename=str(SERVICE_ACCOUNT_DIR / "token"),
        cert_filename=str(SERVICE_ACCOUNT_DIR / "ca.crt"),
        try_refresh_token=False,
        environ=environ,
    ).load_and_set(configuration)
    namespace_file = SERVICE_ACCOUNT_DIR / "namespace"
    namespace = namespace_file.read_text().strip() if namespace_file.is_file() else "default"
    return Credentials(
        server=configuration.host,
        source="in-cluster service account",
        namespace=namespace,
        authorization=_bearer(configuration),
        ca_pem=_read(configuration.ssl_ca_cert),
    )


def _from_kubeconfig(environ: dict[str, str]) -> Credentials:
    from kubernetes import client
    from kubernetes.config import ConfigException, kube_config

    paths = environ.get("KUBECONFIG") or os.path.expanduser("~/.kube/config")
    private = tempfile.mkdtemp(prefix="azbatch-kubeconfig-")
    try:
        merged = kube_config.KubeConfigMerger(paths)
        if merged.config is None:
            raise KubeLoginError(f"no kubeconfig found at {paths} and not running in a cluster")
        loader = kube_config.KubeConfigLoader(
            config_dict=merged.config, config_base_path=None, temp_file_path=private
        )
        configuration = client.Configuration()
        try:
            loader.load_and_set(configuration)
        except ConfigException as exc:
            raise KubeLoginError(f"kubeconfig {paths}: {exc}") from None
        context = loader.current_context or {}
        ca, cert, key = (
            _read(configuration.ssl_ca_cert),
            _read(configuration.cert_file),
            _read(configuration.key_file),
        )
    finally:
        shutil.rmtree(private, ignore_errors=True)
    authorization = _bearer(configuration)
    if configuration.username and configuration.password and not authorization:
        basic = base64.b64encode(f"{configuration.username}:{configuration.password}".encode()).decode()
        authorization = f"Basic {basic}"
    user = (context.get("context") or {}).get("user")
    if authorization is None and not (cert and key):
        # The client library logs and swallows a failing exec plugin: say so instead of
        # sending anonymous requests that come back as 401/403.
        raise KubeLoginError(
            f"kubeconfig {paths}, context {context.get('name')!r}: user {user!r} yielded no token "
            "and no client certificate (an exec plugin that failed? see the lines above)"
        )
    expiry = getattr(loader, "expiry", None)
    if isinstance(expiry, datetime) and expiry.tzinfo is None:
        expiry = expiry.replace(tzinfo=UTC)
    return Credentials(
        server=configuration.host,
        source=f"kubeconfig {paths}, context {context.get('name')!r}, user {user!r}",
        namespace=(context.get("context") or {}).get("namespace") or "default",
        authorization=authorization,
        ca_pem=ca,
        cert_pem=cert,
        key_pem=key,
        insecure=not configuration.verify_ssl,
        tls_server_name=configuration.tls_server_name or None,
        proxy=configuration.proxy or None,
        expires=expiry if isinstance(expiry, datetime) else None,
    )


def load(environ: dict[str, str] | None = None) -> Credentials:
    """In-cluster service account first, then the kubeconfig (`$KUBECONFIG`, `~/.kube/config`).

    Blocking (an exec plugin is a subprocess): call it from a thread in async code.
    """
    env = dict(os.environ if environ is None else environ)
    return _in_cluster(env) or _from_kubeconfig(env)


class Login:
    """The current credentials, shared by every session; reloaded when stale, one reload at a time."""

    def __init__(self, credentials: Credentials, loader: Callable[[], Credentials] | None = None) -> None:
        self.credentials = credentials
        self._loader = loader or load
        self._lock = asyncio.Lock()
        self._ssl = credentials.ssl_context()
        self.reloads = 0
        self.loaded_at = time.monotonic()
        self._kopf_logins = 0

    @classmethod
    async def create(cls, loader: Callable[[], Credentials] | None = None) -> Login:
        load_fn = loader or load
        return cls(await asyncio.to_thread(load_fn), load_fn)

    @property
    def ssl(self) -> ssl.SSLContext:
        """One context for every session: a reloaded client certificate is loaded into it."""
        return self._ssl

    async def current(self) -> Credentials:
        if self.credentials.expired():
            await self.reload(self.credentials)
        return self.credentials

    async def for_kopf(self) -> Credentials:
        """kopf's first login uses what start-up loaded; a later one follows a 401: reload."""
        self._kopf_logins += 1
        if self._kopf_logins == 1:
            return await self.current()
        return await self.reload(self.credentials)

    async def reload(self, stale: Credentials) -> Credentials:
        """Reload unless another task already replaced `stale`; returns the fresh credentials."""
        async with self._lock:
            if self.credentials is not stale:
                return self.credentials
            fresh = await asyncio.to_thread(self._loader)
            if (
                fresh.cert_pem
                and fresh.key_pem
                and (fresh.cert_pem, fresh.key_pem)
                != (
                    stale.cert_pem,
                    stale.key_pem,
                )
            ):
                with _in_memory_file(fresh.cert_pem) as cert, _in_memory_file(fresh.key_pem) as key:
                    self._ssl.load_cert_chain(cert, key)
            self.credentials = fresh
            self.reloads += 1
            self.loaded_at = time.monotonic()
            logger.info("Kubernetes credentials reloaded (%s)", fresh.source)
            return fresh

    def middleware(
        self, gate: Callable[[], bool] | None = None
    ) -> Callable[[aiohttp.ClientRequest, Any], Awaitable[aiohttp.ClientResponse]]:
        """An aiohttp client middleware: current Authorization header, one re-login on 401.

        `gate` (when given) must be true for a request to leave: a replica that is not the leader
        sends nothing through a gated session.
        """

        async def middleware(request: aiohttp.ClientRequest, handler: Any) -> aiohttp.ClientResponse:
            if gate is not None and not gate():
                raise aiohttp.ClientConnectionError("not sent: this replica is not the leader")
            credentials = await self.current()
            if credentials.authorization:
                request.headers["Authorization"] = credentials.authorization
            response: aiohttp.ClientResponse = await handler(request)
            if response.status != 401:
                return response
            fresh = await self.reload(credentials)
            if fresh.authorization == credentials.authorization and fresh.cert_pem == credentials.cert_pem:
                return response  # nothing new to try: let the caller see the 401
            response.release()
            if fresh.authorization:
                request.headers["Authorization"] = fresh.authorization
            retried: aiohttp.ClientResponse = await handler(request)
            return retried

        return middleware

    def session(self, gate: Callable[[], bool] | None = None, limit: int = 20) -> aiohttp.ClientSession:
        """A new session (own connection pool) that authenticates through this login."""
        return aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(ssl=self._ssl, limit=limit),
            middlewares=(self.middleware(gate),),
            proxy=self.credentials.proxy,
        )
