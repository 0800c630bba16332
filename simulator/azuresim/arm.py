"""ARM front door: routing, authentication, throttling, api-version checks, RBAC, LRO plumbing."""

from __future__ import annotations

import json
import math
import re
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from azuresim.auth import Caller, Entra, TokenIssuer, authorize, bad_auth_scheme, missing_auth
from azuresim.errors import JSON, OPERATION_KEY, PRINCIPAL_KEY, RATELIMIT_KEY, ArmError, json_response
from azuresim.throttle import Throttler
from azuresim.world import Operation, World, region

# api-versions each resource-provider family serves (the stable versions published in
# azure-rest-api-specs: Compute/ComputeRP, Compute/DiskRP, Compute/GalleryRP and Microsoft.Batch
# readme tags, plus the newer ones the installed SDKs send: azure-mgmt-compute 39 sends
# 2026-04-01 / 2026-03-02 / 2026-03-03, azure-mgmt-batch 19 sends 2025-06-01). A world can replace a
# family's list (`apiVersions: {batch: [...]}`) or withhold versions from a region
# (`apiVersions: {notServedIn: {westeurope: {batch: [2025-06-01]}}}`), as ARM does while a new
# version rolls out region by region.
API_VERSIONS: dict[str, tuple[str, ...]] = {
    "compute": (
        "2020-06-01",
        "2020-12-01",
        "2021-03-01",
        "2021-04-01",
        "2021-07-01",
        "2021-11-01",
        "2022-03-01",
        "2022-08-01",
        "2022-11-01",
        "2023-03-01",
        "2023-07-01",
        "2023-09-01",
        "2024-03-01",
        "2024-07-01",
        "2024-11-01",
        "2025-04-01",
        "2025-11-01",
        "2026-04-01",
    ),
    "disk": (
        "2020-09-30",
        "2020-12-01",
        "2021-04-01",
        "2021-08-01",
        "2021-12-01",
        "2022-03-02",
        "2022-07-02",
        "2023-01-02",
        "2023-04-02",
        "2023-10-02",
        "2024-03-02",
        "2025-01-02",
        "2025-10-02",
        "2026-03-02",
    ),
    "gallery": (
        "2020-09-30",
        "2021-07-01",
        "2021-10-01",
        "2022-01-03",
        "2022-03-03",
        "2022-08-03",
        "2023-07-03",
        "2024-03-03",
        "2025-03-03",
        "2026-03-03",
    ),
    "batch": (
        "2015-12-01",
        "2017-01-01",
        "2017-05-01",
        "2017-09-01",
        "2018-12-01",
        "2019-04-01",
        "2019-08-01",
        "2020-03-01",
        "2020-05-01",
        "2020-09-01",
        "2021-01-01",
        "2021-06-01",
        "2022-01-01",
        "2022-06-01",
        "2022-10-01",
        "2023-05-01",
        "2023-11-01",
        "2024-02-01",
        "2024-07-01",
        "2025-06-01",
    ),
}
API_VERSIONS["compute-ops"] = API_VERSIONS["compute"] + API_VERSIONS["disk"] + API_VERSIONS["gallery"]
_API_VERSION_RE = re.compile(r"^\d{4}-\d{2}-\d{2}(-preview)?$")

Handler = Callable[["Ctx"], Awaitable[web.StreamResponse]]

SUB = r"/subscriptions/(?P<sub>[^/]+)"
RG = SUB + r"/resourceGroups/(?P<rg>[^/]+)"
NAME = r"[^/]+"


@dataclass
class Route:
    method: str
    pattern: re.Pattern[str]
    operation: str
    verb: str  # read | write | delete | action
    action: str  # RBAC action, e.g. Microsoft.Compute/images/write
    family: str  # key of API_VERSIONS
    handler: Handler
    scope_strip: int = 0  # trailing path segments that are not part of the RBAC scope
    rbac: bool = True


@dataclass
class Ctx:
    request: web.Request
    world: World
    params: dict[str, str]
    caller: Caller
    api_version: str
    route: Route
    base_url: str
    body_cache: Any = None
    extra_headers: dict[str, str] = field(default_factory=dict)

    @property
    def path(self) -> str:
        return self.request.path

    async def body(self) -> JSON:
        if self.body_cache is None:
            raw = await self.request.read()
            if not raw:
                self.body_cache = {}
            else:
                try:
                    self.body_cache = json.loads(raw)
                except ValueError as exc:
                    raise ArmError(
                        400,
                        "InvalidRequestContent",
                        f"The request content was invalid and could not be deserialized: '{exc}'.",
                    ) from exc
            if not isinstance(self.body_cache, dict):
                raise ArmError(400, "InvalidRequestContent", "The request content must be a JSON object.")
        assert isinstance(self.body_cache, dict)
        return self.body_cache

    def retry_after(self, remaining_sim_seconds: float) -> str | None:
        fixed = self.world.cfg("lro").get("retryAfterSeconds")
        if fixed is not None:
            return None if int(fixed) <= 0 else str(int(fixed))
        real = self.world.clock.real_seconds(max(0.0, remaining_sim_seconds))
        return str(min(5, max(1, math.ceil(real))))

    def compute_lro_headers(self, op: Operation, kind: str) -> dict[str, str]:
        """Azure-AsyncOperation + Location headers as the Compute RP returns them."""
        segment = {"disk": "DiskOperations", "gallery": "capsOperations"}.get(kind, "operations")
        url = (
            f"{self.base_url}/subscriptions/{self.params['sub']}/providers/Microsoft.Compute/locations/"
            f"{op.location}/{segment}/{op.id}?p={uuid.uuid4()}&api-version={self.api_version}"
        )
        headers = {"Azure-AsyncOperation": url, "Location": url + "&monitor=true"}
        ra = self.retry_after(op.done_at - self.world.clock.now())
        if ra is not None:
            headers["Retry-After"] = ra
        return headers


class Arm:
    """Dispatches every /subscriptions and /providers request through ARM's front-door checks."""

    def __init__(self, world: World, issuer: TokenIssuer, entra: Entra) -> None:
        self.world = world
        self.issuer = issuer
        self.entra = entra
        self.throttler = Throttler()
        self.routes: list[Route] = []
        self.base_url = ""

    def add(
        self,
        method: str,
        pattern: str,
        operation: str,
        verb: str,
        action: str,
        family: str,
        handler: Handler,
        scope_strip: int = 0,
        rbac: bool = True,
    ) -> None:
        self.routes.append(
            Route(
                method,
                re.compile("^" + pattern + "/?$", re.IGNORECASE),
                operation,
                verb,
                action,
                family,
                handler,
                scope_strip,
                rbac,
            )
        )

    def match(self, method: str, path: str) -> tuple[Route | None, dict[str, str], bool]:
        """(route, params, path_known). path_known=True with route None means wrong method."""
        path_known = False
        for route in self.routes:
            m = route.pattern.match(path)
            if m is None:
                continue
            path_known = True
            if route.method == method:
                return route, m.groupdict(), True
        return None, {}, path_known

    def check_api_version(self, route: Route, params: dict[str, str], path: str, api_version: str) -> None:
        """ARM's answers: a malformed version is 400 InvalidApiVersionParameter; a well-formed one the
        provider does not serve for this type in this region is 400 NoRegisteredProviderFound, with
        the versions and locations it does serve (the message ARM sends while a version rolls out)."""
        if not _API_VERSION_RE.match(api_version):
            raise ArmError(
                400,
                "InvalidApiVersionParameter",
                f"The api-version '{api_version}' is invalid. The supported versions are "
                f"'{','.join(reversed(API_VERSIONS[route.family]))}'.",
            )
        location = request_location(self.world, params, path)
        served = served_versions(self.world, route.family, location)
        if api_version in served:
            return
        rtype = "/".join(route.action.split("/")[1:-1])
        locations = sorted(
            {g.location for s in self.world.subscriptions.values() for g in s.resource_groups.values()}
        )
        raise ArmError(
            400,
            "NoRegisteredProviderFound",
            f"No registered resource provider found for location '{location}' and API version "
            f"'{api_version}' for type '{rtype}'. The supported api-versions are "
            f"'{', '.join(reversed(served))}'. The supported locations are '{', '.join(locations)}'.",
        )

    def authenticate(self, request: web.Request) -> Caller:
        header = request.headers.get("Authorization")
        if not header:
            raise missing_auth()
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise bad_auth_scheme()
        claims = self.issuer.validate(token.strip(), self.entra.allowed_audiences())
        return Caller(
            client_id=str(claims.get("appid", "")).lower(),
            object_id=str(claims.get("oid", "")),
            tenant=str(claims.get("tid", "")).lower(),
        )

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.world.tick()
        path = request.path
        method = request.method
        route, params, known = self.match(method, path)
        request[OPERATION_KEY] = route.operation if route else "Unknown"
        caller = self.authenticate(request)
        request[PRINCIPAL_KEY] = caller.client_id
        sub_id = params.get("sub") or _sub_of(path)
        sub = self.world.subscription(sub_id) if sub_id else None
        if sub_id and sub is None:
            raise ArmError(404, "SubscriptionNotFound", f"The subscription '{sub_id}' could not be found.")
        if sub is not None and sub.tenant and caller.tenant != sub.tenant:
            raise ArmError(
                401,
                "InvalidAuthenticationTokenTenant",
                "The access token is from the wrong issuer "
                f"'https://sts.windows.net/{caller.tenant}/'. It must "
                f"match the tenant 'https://sts.windows.net/{sub.tenant}/' associated with this "
                "subscription. "
                "Please use the authority (URL) 'https://login.windows.net/"
                f"{sub.tenant}' to get the token.",
            )
        kind = route.verb if route else {"GET": "read", "DELETE": "delete"}.get(method, "write")
        bucket = {"read": "reads", "delete": "deletes"}.get(kind, "writes")
        ok, remaining, wait = self.throttler.check(
            self.world.cfg("throttling"), sub_id or "-", caller.client_id, bucket
        )
        header_name = f"x-ms-ratelimit-remaining-subscription-{bucket}"
        request[RATELIMIT_KEY] = (header_name, str(remaining))
        if not ok:
            noun = {"reads": "read", "writes": "write", "deletes": "delete"}[bucket]
            raise ArmError(
                429,
                "SubscriptionRequestsThrottled",
                f"Number of '{noun}' requests for subscription '{sub_id}' actor "
                f"'{caller.object_id}' exceeded. "
                f"Please try again after '{wait}' seconds after additional tokens are available. "
                "Refer to https://aka.ms/arm-throttling",
                headers={"Retry-After": str(wait)},
            )
        api_version = request.query.get("api-version")
        if not api_version:
            raise ArmError(
                400,
                "MissingApiVersionParameter",
                "The api-version query parameter (?api-version=) is required for all requests.",
            )
        if route is None:
            if known:
                raise ArmError(
                    405,
                    "MethodNotAllowed",
                    f"The requested resource does not support http method '{method}'.",
                )
            raise ArmError(
                404,
                "InvalidResourceType",
                f"The resource type could not be found for the path '{path}' and api version "
                f"'{api_version}'.",
            )
        self.check_api_version(route, params, path, api_version)
        if route.rbac:
            segments = path.rstrip("/").split("/")
            scope = (
                "/".join(segments[: len(segments) - route.scope_strip])
                if route.scope_strip
                else path.rstrip("/")
            )
            authorize(self.world, caller, sub_id or "", scope, route.verb, route.action)
        if "rg" in params and self.world.resource_group(params["sub"], params["rg"]) is None:
            raise ArmError(
                404, "ResourceGroupNotFound", f"Resource group '{params['rg']}' could not be found."
            )
        ctx = Ctx(request, self.world, params, caller, api_version, route, self.base_url)
        response = await route.handler(ctx)
        for k, v in ctx.extra_headers.items():
            response.headers[k] = v
        return response


def served_versions(world: World, family: str, location: str) -> tuple[str, ...]:
    """The api-versions `family` serves in `location` (the world may narrow both)."""
    cfg = world.cfg("apiVersions")
    listed = cfg.get(family)
    versions = tuple(str(v) for v in listed) if isinstance(listed, list) else API_VERSIONS[family]
    not_served = (cfg.get("notServedIn") or {}).get(location) or {}
    withheld = {str(v) for v in not_served.get(family) or []} if isinstance(not_served, dict) else set()
    return tuple(v for v in versions if v not in withheld)


def request_location(world: World, params: dict[str, str], path: str) -> str:
    """The region ARM routes a request to: the resource's (or its nearest parent's), else the
    resource group's, else the `locations/{l}` segment."""
    if params.get("loc"):
        return region(params["loc"])
    parts = path.rstrip("/").split("/")
    for end in range(len(parts), 4, -1):
        res = world.get("/".join(parts[:end]))
        if res is not None and res.location:
            return res.location
    if params.get("sub") and params.get("rg"):
        rg = world.resource_group(params["sub"], params["rg"])
        if rg is not None:
            return rg.location
    return ""


def _sub_of(path: str) -> str | None:
    parts = path.split("/")
    if len(parts) > 2 and parts[1].lower() == "subscriptions":
        return parts[2]
    return None


def ok(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return json_response(body, status=status, headers=headers)


def listing(items: list[JSON]) -> web.Response:
    return json_response({"value": items})


def operation_status_body(op: Operation) -> JSON:
    from azuresim.clock import iso

    body: JSON = {"startTime": iso(op.start), "status": op.status, "name": op.id}
    if op.status != "InProgress":
        body["endTime"] = iso(op.done_at)
    if op.error is not None:
        body["error"] = op.error
    return body
