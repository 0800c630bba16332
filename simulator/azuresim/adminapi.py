"""The /_sim/ admin API (no token needed): seed, resources, faults, requests, clock."""

from __future__ import annotations

import json
from collections import Counter, deque
from collections.abc import Callable
from typing import Any

from aiohttp import web

from azuresim import pool_properties
from azuresim.clock import iso
from azuresim.errors import JSON, deep_merge, json_response
from azuresim.faults import Faults
from azuresim.world import World, parse_id

RECENT_WINDOW = 1000


class RequestStats:
    """Counts of ARM/Entra requests by operation, method, status and principal.

    The counts are exact however many requests ran (one counter per key, never evicted), so a test
    asserting "0 writes" cannot pass because old entries fell out; only the `recent` list (the last
    `RECENT_WINDOW` requests, for reading what happened) is a window.
    """

    def __init__(self) -> None:
        self.counts: Counter[tuple[str, str, int, str]] = Counter()
        self.recent: deque[JSON] = deque(maxlen=RECENT_WINDOW)

    def record(self, operation: str, method: str, status: int, principal: str, path: str, ts: float) -> None:
        self.counts[(operation, method, status, principal)] += 1
        self.recent.append(
            {
                "time": iso(ts),
                "operation": operation,
                "method": method,
                "status": status,
                "principal": principal,
                "path": path,
            }
        )

    def reset(self) -> None:
        self.counts.clear()
        self.recent.clear()

    def summary(self) -> JSON:
        by_op: Counter[str] = Counter()
        by_method: Counter[str] = Counter()
        by_status: Counter[str] = Counter()
        by_principal: Counter[str] = Counter()
        entries = []
        for (op, method, status, principal), n in sorted(self.counts.items()):
            by_op[op] += n
            by_method[method] += n
            by_status[str(status)] += n
            by_principal[principal] += n
            entries.append(
                {"operation": op, "method": method, "status": status, "principal": principal, "count": n}
            )
        return {
            "total": sum(self.counts.values()),
            "byOperation": dict(by_op),
            "byMethod": dict(by_method),
            "byStatus": dict(by_status),
            "byPrincipal": dict(by_principal),
            "entries": entries,
            "recentWindow": RECENT_WINDOW,
            "recent": list(self.recent),
        }


class AdminApi:
    def __init__(self, world: World, faults: Faults, stats: RequestStats, on_change: Any = None) -> None:
        self.world = world
        self.faults = faults
        self.stats = stats
        self.on_change = on_change
        self.env_provider: Callable[[], dict[str, str]] | None = None

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/_sim/health", self.health),
            web.get("/_sim/env", self.env),
            web.post("/_sim/seed", self.seed),
            web.get("/_sim/world", self.config),
            web.get("/_sim/resources", self.list_resources),
            web.delete("/_sim/resources", self.delete_resource),
            web.patch("/_sim/resources", self.patch_resource),
            web.get("/_sim/faults", self.list_faults),
            web.post("/_sim/faults", self.add_fault),
            web.delete("/_sim/faults", self.clear_faults),
            web.get("/_sim/requests", self.requests),
            web.delete("/_sim/requests", self.reset_requests),
            web.get("/_sim/clock", self.get_clock),
            web.post("/_sim/clock", self.set_clock),
        ]

    async def _json(self, request: web.Request) -> Any:
        raw = await request.read()
        if not raw:
            return {}
        try:
            return json.loads(raw)
        except ValueError as exc:
            raise web.HTTPBadRequest(
                text=json.dumps({"error": f"invalid JSON: {exc}"}), content_type="application/json"
            ) from exc

    async def env(self, request: web.Request) -> web.Response:
        if self.env_provider is None:
            return json_response({"error": "not started"}, status=503)
        try:
            return json_response(self.env_provider())
        except LookupError as exc:
            return json_response({"error": str(exc)}, status=409)

    async def health(self, request: web.Request) -> web.Response:
        return json_response({"status": "ok"})

    async def seed(self, request: web.Request) -> web.Response:
        body = await self._json(request)
        if not isinstance(body, dict):
            return json_response({"error": "the world must be a JSON object"}, status=400)
        try:
            self.world.seed(body)
        except (KeyError, TypeError, ValueError) as exc:
            return json_response({"error": f"invalid world: {exc!r}"}, status=400)
        return json_response(
            {"resources": len(self.world.resources), "subscriptions": len(self.world.subscriptions)}
        )

    async def config(self, request: web.Request) -> web.Response:
        return json_response(
            {
                "config": self.world.config,
                "tenants": {t: sorted(p) for t, p in self.world.tenants.items()},
                "subscriptions": {
                    s.id: {
                        "tenant": s.tenant,
                        "resourceGroups": {g.name: g.location for g in s.resource_groups.values()},
                        "roleAssignments": [vars(r) for r in s.role_assignments],
                    }
                    for s in self.world.subscriptions.values()
                },
            }
        )

    async def list_resources(self, request: web.Request) -> web.Response:
        self.world.tick()
        rtype = request.query.get("type")
        items = [self._record(r) for r in self.world.by_type(rtype)]
        return json_response(items)

    def _record(self, res: Any) -> JSON:
        view = self.world.view(res)
        view.setdefault("location", res.location)
        view.setdefault("tags", dict(res.tags))
        digests = pool_properties.secret_digests(res.properties)
        if digests:  # Batch pools: which secrets Azure holds, as digests (pool_properties.py)
            view["simSecretSha256"] = digests
        return view

    async def delete_resource(self, request: web.Request) -> web.Response:
        rid = request.query.get("id", "")
        res = self.world.delete(rid) if rid else None
        if res is None:
            return json_response({"error": f"no resource {rid!r}"}, status=404)
        return json_response({"deleted": res.id})

    async def patch_resource(self, request: web.Request) -> web.Response:
        rid = request.query.get("id", "")
        res = self.world.get(rid) if rid else None
        if res is None:
            return json_response({"error": f"no resource {rid!r}"}, status=404)
        body = await self._json(request)
        if not isinstance(body, dict):
            return json_response({"error": "body must be an object"}, status=400)
        # accept either {"properties": {...}, "tags": {...}} or a bare properties object
        props = body.get("properties") if isinstance(body.get("properties"), dict) else None
        if props is None and "tags" not in body:
            props = body
        if props:
            deep_merge(res.properties, props)
        if isinstance(body.get("tags"), dict):
            res.tags.update(body["tags"])
        return json_response(self._record(res))

    async def list_faults(self, request: web.Request) -> web.Response:
        return json_response([f.describe() for f in self.faults.rules])

    async def add_fault(self, request: web.Request) -> web.Response:
        body = await self._json(request)
        specs = body if isinstance(body, list) else [body]
        try:
            added = [self.faults.add(s).describe() for s in specs]
        except (ValueError, TypeError, KeyError) as exc:
            return json_response({"error": str(exc)}, status=400)
        return json_response(added if isinstance(body, list) else added[0], status=201)

    async def clear_faults(self, request: web.Request) -> web.Response:
        fid = request.query.get("id")
        if fid:
            self.faults.rules = [f for f in self.faults.rules if f.id != fid]
        else:
            self.faults.clear()
        return web.Response(status=204)

    async def requests(self, request: web.Request) -> web.Response:
        return json_response(self.stats.summary())

    async def reset_requests(self, request: web.Request) -> web.Response:
        self.stats.reset()
        return web.Response(status=204)

    def _clock(self) -> JSON:
        now = self.world.clock.now()
        return {"now": iso(now), "epoch": now, "timeScale": self.world.clock.time_scale}

    async def get_clock(self, request: web.Request) -> web.Response:
        return json_response(self._clock())

    async def set_clock(self, request: web.Request) -> web.Response:
        body = await self._json(request)
        try:
            if body.get("timeScale") is not None:
                self.world.clock.set_scale(float(body["timeScale"]))
            if body.get("advanceSeconds") is not None:
                self.world.clock.advance(float(body["advanceSeconds"]))
        except (ValueError, TypeError) as exc:
            return json_response({"error": str(exc)}, status=400)
        self.world.tick()
        return json_response(self._clock())


def type_of(rid: str) -> str | None:
    parsed = parse_id(rid)
    return parsed.type if parsed else None
