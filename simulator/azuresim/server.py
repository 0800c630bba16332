"""The aiohttp application and its lifecycle (HTTPS only)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import ssl
import uuid
from pathlib import Path
from typing import Any

import yaml
from aiohttp import web

from azuresim import batch, compute, dataplane
from azuresim.adminapi import AdminApi, RequestStats
from azuresim.arm import Arm
from azuresim.auth import Entra, TokenIssuer, decode_unverified
from azuresim.certs import TLSFiles, generate, server_context
from azuresim.clock import SimClock
from azuresim.errors import JSON, OPERATION_KEY, PRINCIPAL_KEY, RATELIMIT_KEY, ArmError, json_response
from azuresim.faults import Faults
from azuresim.world import World

log = logging.getLogger("azuresim")

ENTRA_OPERATIONS = {
    "token": "Entra_Token",
    "openid-configuration": "Entra_OpenIdConfiguration",
    "instance": "Entra_InstanceDiscovery",
    "keys": "Entra_Keys",
}


def load_world_file(path: str | os.PathLike[str]) -> JSON:
    with open(path, encoding="utf-8") as f:
        doc = yaml.safe_load(f) or {}
    if not isinstance(doc, dict):
        raise ValueError(f"{path}: a world file must be a mapping")
    return doc


def _principal_hint(request: web.Request) -> str:
    header = request.headers.get("Authorization", "")
    if header[:7].lower() == "bearer ":
        try:
            _, claims, _, _ = decode_unverified(header[7:].strip())
            return str(claims.get("appid", "")).lower()
        except (ValueError, UnicodeDecodeError):
            return ""
    return ""


class Simulator:
    """One simulator instance: world, identity, ARM routes, admin API, HTTPS listener."""

    def __init__(
        self,
        state_dir: str | os.PathLike[str],
        world: JSON | None = None,
        time_scale: float = 1.0,
        host: str = "127.0.0.1",
        port: int = 0,
        access_log: bool = False,
    ) -> None:
        self.state_dir = Path(state_dir).resolve()
        self.host = host
        self.port = port
        self.access_log = access_log
        self.clock = SimClock(time_scale)
        self.world = World(self.clock)
        self.issuer = TokenIssuer()
        self.entra = Entra(self.world, self.issuer)
        self.arm = Arm(self.world, self.issuer, self.entra)
        self.faults = Faults()
        self.stats = RequestStats()
        self.admin = AdminApi(self.world, self.faults, self.stats)
        self.admin.env_provider = self.env
        compute.register(self.arm, self.world)
        batch.register(self.arm, self.world)
        self.dataplane = dataplane.DataPlane(self.world, self.issuer)
        if world:
            self.world.seed(world)
        self.tls: TLSFiles | None = None
        self._runner: web.AppRunner | None = None
        self.url = ""

    # ------------------------------------------------------------------ app
    def make_app(self) -> web.Application:
        app = web.Application(middlewares=[self._front], client_max_size=8 * 1024 * 1024)
        for prefix in ("/subscriptions", "/providers"):
            app.router.add_route("*", prefix + "/{tail:.*}", self.arm.handle)
        app.add_routes(self.admin.routes())
        app.add_routes(self.dataplane.admin_routes())
        app.add_routes(self.dataplane.routes())
        app.add_routes(self.entra.routes())
        return app

    @web.middleware
    async def _front(self, request: web.Request, handler: Any) -> web.StreamResponse:
        path = request.path
        if path.startswith("/_sim/"):
            result: web.StreamResponse = await handler(request)
            return result
        request_id = str(uuid.uuid4())
        correlation = request.headers.get("x-ms-correlation-request-id") or str(uuid.uuid4())
        response: web.StreamResponse | None = None
        hint = _principal_hint(request)
        fault = self.faults.match(request.method, path, hint) if self.faults.rules else None
        if fault is not None and path.startswith(("/subscriptions", "/providers")):
            route = self.arm.match(request.method, path)[0]
            request[OPERATION_KEY] = route.operation if route else "Unknown"
        if fault is not None:
            if fault.delay_ms:
                await asyncio.sleep(fault.delay_ms / 1000.0)
            if fault.drop:
                self._record(request, 0, hint)
                if request.transport is not None:
                    request.transport.close()
                raise asyncio.CancelledError()
            if fault.status:
                body, headers = self.faults.error_body(fault)
                response = json_response(body, status=fault.status, headers=headers)
        if response is None:
            try:
                response = await handler(request)
            except ArmError as exc:
                response = exc.response()
            except web.HTTPException as exc:
                if exc.status == 404 and not path.startswith(("/subscriptions", "/providers")):
                    response = json_response(
                        {"error": {"code": "NotFound", "message": f"No route for {request.method} {path}."}},
                        status=404,
                    )
                else:
                    raise
        assert response is not None
        response.headers["x-ms-request-id"] = request_id
        response.headers["x-ms-correlation-request-id"] = correlation
        client_req = request.headers.get("x-ms-client-request-id")
        if client_req:
            response.headers["x-ms-client-request-id"] = client_req
        if path.startswith(("/subscriptions", "/providers")):
            response.headers["x-ms-routing-request-id"] = f"LOCAL:{request_id}"
            rl = request.get(RATELIMIT_KEY)
            if rl:
                response.headers[rl[0]] = rl[1]
        response.headers.setdefault("Cache-Control", "no-cache")
        self._record(request, response.status, request.get(PRINCIPAL_KEY) or hint)
        return response

    def _record(self, request: web.Request, status: int, principal: str) -> None:
        op = request.get(OPERATION_KEY)
        if op is None:
            last = request.path.rstrip("/").rsplit("/", 1)[-1]
            op = ENTRA_OPERATIONS.get(last, "Unknown")
        self.stats.record(op, request.method, status, principal or "-", request.path, self.clock.now())

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> str:
        self.tls = generate(
            self.state_dir, (self.host, "localhost") if self.host != "localhost" else ("localhost",)
        )
        ctx: ssl.SSLContext = server_context(self.tls)
        self._runner = web.AppRunner(
            self.make_app(), access_log=log if self.access_log else None, handle_signals=False
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, ssl_context=ctx, backlog=1024)
        await site.start()
        server = site._server
        assert server is not None
        sockets = getattr(server, "sockets", None) or []
        self.port = sockets[0].getsockname()[1]
        self.url = f"https://{self.host}:{self.port}"
        self.entra.base_url = self.url
        self.arm.base_url = self.url
        self.dataplane.base_url = self.url
        self._write_ready()
        return self.url

    def _write_ready(self) -> None:
        assert self.tls is not None
        ready = {"url": self.url, "port": self.port, "caFile": str(self.tls.ca_file), "pid": os.getpid()}
        tmp = self.state_dir / "ready.json.tmp"
        tmp.write_text(json.dumps(ready))
        os.replace(tmp, self.state_dir / "ready.json")

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        with contextlib.suppress(FileNotFoundError):
            (self.state_dir / "ready.json").unlink()

    @property
    def ca_file(self) -> str:
        assert self.tls is not None, "not started"
        return str(self.tls.ca_file)

    def env(self) -> dict[str, str]:
        return env_for(self.world, self.url, self.ca_file)


def env_for(world: World, url: str, ca_file: str) -> dict[str, str]:
    """The AZURE_* variables an operator needs: first tenant's first principal, first subscription."""
    tenant, principal, sub = world.first_identity()
    out = {
        "AZURE_TENANT_ID": tenant,
        "AZURE_CLIENT_ID": principal.client_id,
        "AZURE_SUBSCRIPTION_ID": sub,
        "AZURE_AUTHORITY_HOST": url,
        "AZURE_RESOURCE_MANAGER_ENDPOINT": url,
        "SSL_CERT_FILE": ca_file,
        "REQUESTS_CA_BUNDLE": ca_file,
    }
    if principal.secret is not None:
        out["AZURE_CLIENT_SECRET"] = principal.secret
    return out
