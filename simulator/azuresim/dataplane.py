"""The Azure Batch data plane of every simulated account, on the simulator's own HTTPS port.

Azure gives each Batch account a DNS name (``properties.accountEndpoint``,
``<account>.<region>.batch.azure.com``) and clients build request URLs as ``https://<endpoint>/<path>``.
The simulator has one host, so it routes by path instead: an account's endpoint is
``<host>:<port>/batch/<subscription>/<resourceGroup>/<account>`` and the SDK, given only that
endpoint, appends ``/pools/...`` to it.  Tokens must carry the Batch audience
(``https://batch.core.windows.net/``); authorization uses the same role assignments as ARM
(Batch authorizes Entra callers of the data plane with the account's ``Microsoft.Batch/.../pools/*``
actions), and an account with ``publicNetworkAccess: Disabled`` refuses every data-plane call.

Nodes are kept per pool as two id lists (dedicated, low-priority) that follow the pool's current
node counts; nodes put into a state with ``POST /_sim/nodes`` keep it (and its error) until they
leave the pool.  Every other node is ``idle``.
"""

from __future__ import annotations

import copy
import json
import zlib
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode, urlsplit

from aiohttp import web

from azuresim.allocation import T_ACCOUNT, T_POOL, refresh_pool, start_resize, stop_resize
from azuresim.auth import BATCH_AUDIENCES, Caller, TokenIssuer, authorize
from azuresim.batch import new_etag
from azuresim.clock import iso, parse_duration
from azuresim.errors import JSON, OPERATION_KEY, PRINCIPAL_KEY, ArmError, json_response
from azuresim.world import Resource, World

PREFIX = "/batch"
READ = "Microsoft.Batch/batchAccounts/pools/read"
WRITE = "Microsoft.Batch/batchAccounts/pools/write"
#: Node states on the wire (lower case, as the data plane sends them) -> the node-counts field.
COUNT_FIELDS = {
    "creating": "creating",
    "idle": "idle",
    "offline": "offline",
    "preempted": "preempted",
    "rebooting": "rebooting",
    "reimaging": "reimaging",
    "running": "running",
    "starting": "starting",
    "starttaskfailed": "startTaskFailed",
    "leavingpool": "leavingPool",
    "unknown": "unknown",
    "unusable": "unusable",
    "waitingforstarttask": "waitingForStartTask",
    "deallocated": "deallocated",
    "deallocating": "deallocating",
    "upgradingos": "upgradingOS",
}
#: Page sizes: Account_ListPoolNodeCounts returns 10 pools unless ``maxresults`` asks for more (up to
#: ``batch.nodeCountsMaxResults``), ComputeNode_List 1000 nodes.
NODE_COUNTS_PAGE = 10
NODES_PAGE = 1000
REMOVE_NODES_MAX = 100


ERROR_ENTITY = "Microsoft.Azure.Batch.Protocol.Entities.Container.errors/@Element"


class BatchError(Exception):
    """An error in the data plane's OData shape: ``{code, message: {lang, value}, values}``."""

    def __init__(
        self, status: int, code: str, message: str, values: list[tuple[str, str]] | None = None
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.values = values or []
        self.headers: dict[str, str] = {}

    def response(self, base: str) -> web.Response:
        body: JSON = {
            "odata.metadata": f"{base}/$metadata#{ERROR_ENTITY}",
            "code": self.code,
            "message": {"lang": "en-US", "value": self.message},
        }
        if self.values:
            body["values"] = [{"key": k, "value": v} for k, v in self.values]
        return json_response(body, status=self.status, headers=self.headers)


def endpoint_path(account_id: str) -> str:
    """``/batch/<sub>/<rg>/<account>`` for an account's ARM id."""
    parts = [p for p in account_id.split("/") if p]
    return f"{PREFIX}/{parts[1]}/{parts[3]}/{parts[7]}"


# ---------------------------------------------------------------------------- nodes


def _nodes(pool: Resource) -> JSON:
    nodes = pool.state.setdefault("nodes", {"seq": 0, "ded": [], "low": [], "special": {}, "pending": []})
    assert isinstance(nodes, dict)
    return nodes


def sync_nodes(world: World, pool: Resource) -> JSON:
    """Make the node lists follow the pool's current counts (new nodes appended, the newest leave)."""
    nodes = _nodes(pool)
    alloc = pool.state.get("alloc") or {}
    now = world.clock.now()
    for node_id, rec in list(nodes["special"].items()):
        if rec.get("state") == "running" and float(rec.get("taskEnds", now)) <= now:
            del nodes["special"][node_id]  # its task ended: the node is idle again
    for key, want in (("ded", int(alloc.get("cur_ded", 0))), ("low", int(alloc.get("cur_low", 0)))):
        ids: list[str] = nodes[key]
        while len(ids) < want:
            nodes["seq"] += 1
            node_id = f"tvmps_{nodes['seq']:012x}_{'d' if key == 'ded' else 'p'}"
            ids.append(node_id)
            _take_pending(world, nodes, key, node_id)
        while len(ids) > want:
            # Nodes running a task leave last (with TaskCompletion they are all that is left).
            idle = [i for i in ids if _node_state(nodes, i) != "running"]
            leaving = idle[-1] if idle else ids[-1]
            ids.remove(leaving)
            nodes["special"].pop(leaving, None)
    return nodes


def _take_pending(world: World, nodes: JSON, key: str, node_id: str) -> None:
    """A node joining the pool takes the state a ``POST /_sim/nodes`` asked for more nodes than existed."""
    for entry in nodes.get("pending") or []:
        if entry["remaining"] > 0 and key in entry["kinds"]:
            entry["remaining"] -= 1
            nodes["special"][node_id] = {**entry["rec"], "since": world.clock.now()}
            break
    nodes["pending"] = [e for e in nodes.get("pending") or [] if e["remaining"] > 0]


def _node_state(nodes: JSON, node_id: str) -> str:
    rec = nodes["special"].get(node_id)
    return str(rec["state"]) if rec else "idle"


def node_counts(world: World, pool: Resource) -> JSON:
    nodes = sync_nodes(world, pool)
    out: JSON = {"poolId": pool.name}
    for key, field in (("ded", "dedicated"), ("low", "lowPriority")):
        counts = dict.fromkeys(COUNT_FIELDS.values(), 0)
        for node_id in nodes[key]:
            counts[COUNT_FIELDS[_node_state(nodes, node_id)]] += 1
        counts["total"] = len(nodes[key])
        out[field] = counts
    return out


def node_view(world: World, base: str, pool: Resource, node_id: str, dedicated: bool) -> JSON:
    nodes = _nodes(pool)
    rec = nodes["special"].get(node_id) or {}
    state = str(rec.get("state") or "idle")
    created = float(pool.state.get("alloc", {}).get("transition", world.clock.now()))
    since = float(rec.get("since", created))
    h = zlib.crc32(node_id.encode())
    view: JSON = {
        "id": node_id,
        "url": f"{base}/pools/{pool.name}/nodes/{node_id}",
        "state": state,
        "schedulingState": "enabled",
        "stateTransitionTime": iso(since),
        "allocationTime": iso(min(created, since)),
        "ipAddress": f"10.{(h >> 16) % 256}.{(h >> 8) % 256}.{h % 254 + 1}",
        "vmSize": str(pool.properties.get("vmSize", "")).lower(),
        "totalTasksRun": 0,
        "runningTasksCount": 0,
        "isDedicated": dedicated,
    }
    if state == "starttaskfailed":
        view["startTaskInfo"] = {
            "state": "completed",
            "startTime": iso(since - 30),
            "endTime": iso(since),
            "exitCode": int(rec.get("exitCode", 1)),
            "result": "failure",
            "retryCount": 0,
            "failureInfo": {
                "category": "usererror",
                "code": str(rec.get("code") or "FailureExitCode"),
                "message": str(rec.get("message") or "The task process exited with an unexpected exit code"),
                "details": [
                    {"name": "Message", "value": "The task exited with an exit code representing a failure"}
                ],
            },
        }
    elif rec.get("code") or state == "unusable":
        view["errors"] = [
            {
                "code": str(rec.get("code") or "NodeUnusable"),
                "message": str(
                    rec.get("message") or "The node is unusable: the Batch node agent is not responding."
                ),
                "errorDetails": [],
            }
        ]
    return view


def set_nodes(world: World, pool: Resource, body: JSON) -> JSON:
    """``POST /_sim/nodes``: put ``count`` nodes of the pool into ``state`` (with an error, if given)."""
    refresh_pool(world, pool)
    nodes = sync_nodes(world, pool)
    state = str(body.get("state") or "").lower()
    if state not in COUNT_FIELDS:
        raise ValueError(
            f"state must be one of {', '.join(sorted(COUNT_FIELDS.values()))}, got {body.get('state')!r}"
        )
    count = int(body.get("count", 1))
    if count < 0:
        raise ValueError("count must be >= 0")
    keys = ["low"] if body.get("lowPriority") else ["ded", "low"]
    if body.get("lowPriority") is False:
        keys = ["ded"]
    candidates = [i for k in keys for i in nodes[k] if _node_state(nodes, i) != state]
    # Nodes in no special state first, so "2 unusable" then "3 startTaskFailed" gives 2 + 3.
    candidates.sort(key=lambda i: i in nodes["special"])
    chosen = candidates[:count]
    now = world.clock.now()
    for node_id in chosen:
        if state == "idle":
            nodes["special"].pop(node_id, None)
            continue
        rec: JSON = {"state": state, "since": now}
        for key in ("code", "message", "exitCode"):
            if body.get(key) is not None:
                rec[key] = body[key]
        if state == "running":
            # Its (simulated) task ends after taskSeconds; a TaskCompletion shrink waits for it.
            seconds = float(body.get("taskSeconds") or world.cfg("batch").get("taskSeconds") or 600)
            rec["taskEnds"] = now + seconds
        nodes["special"][node_id] = rec
    # Asked for more nodes than the pool has: the next nodes to join take the state as they arrive.
    pending = count - len(chosen) if state != "idle" else 0
    if pending > 0:
        rec = {
            "state": state,
            **{k: body[k] for k in ("code", "message", "exitCode") if body.get(k) is not None},
        }
        nodes.setdefault("pending", []).append({"rec": rec, "remaining": pending, "kinds": keys})
    return {
        "changed": len(chosen),
        "pending": max(pending, 0),
        "nodeIds": chosen,
        "nodeCounts": node_counts(world, pool),
    }


def remove_nodes(world: World, pool: Resource, node_ids: list[str], now: float) -> None:
    """Take the nodes out of the pool and lower its fixed-scale targets by as many (as Batch does)."""
    nodes = sync_nodes(world, pool)
    alloc = pool.state["alloc"]
    fixed = pool.properties.get("scaleSettings", {}).get("fixedScale") or {}
    for node_id in node_ids:
        key = "ded" if node_id in nodes["ded"] else "low"
        nodes[key].remove(node_id)
        nodes["special"].pop(node_id, None)
        cur = "cur_ded" if key == "ded" else "cur_low"
        alloc[cur] = int(alloc.get(cur, 0)) - 1
        target = "targetDedicatedNodes" if key == "ded" else "targetLowPriorityNodes"
        if fixed:
            fixed[target] = max(0, int(fixed.get(target, 0)) - 1)
    ded, low = int(alloc.get("cur_ded", 0)), int(alloc.get("cur_low", 0))
    seconds = float(world.cfg("batch").get("removeNodesSeconds", 30))
    alloc["state"] = "Resizing"
    alloc["transition"] = now
    alloc["status"] = {
        "targetDedicatedNodes": ded,
        "targetLowPriorityNodes": low,
        "resizeTimeout": "PT15M",
        "startTime": iso(now),
    }
    alloc["resize"] = {
        "start": now,
        "from_ded": ded,
        "from_low": low,
        "ach_ded": ded,
        "ach_low": low,
        "end": now + seconds,
        "error": None,
        "rate": 1.0,
        "timed_out": False,
    }


# ---------------------------------------------------------------------------- HTTP

Handler = Callable[["Request"], Any]


class Request:
    """One authenticated data-plane request: the account, the caller, the path's names."""

    def __init__(self, http: web.Request, world: World, account: Resource, caller: Caller, base: str) -> None:
        self.http = http
        self.world = world
        self.account = account
        self.caller = caller
        self.base = base

    def authorize(self, scope: str, verb: str, action: str) -> None:
        try:
            authorize(self.world, self.caller, scope.split("/")[2], scope, verb, action)
        except ArmError as exc:
            raise BatchError(
                403,
                "AuthorizationFailure",
                "This request is not authorized to perform this operation. " + exc.message,
            ) from exc

    def pool(self, name: str) -> Resource:
        pool = self.world.get(f"{self.account.id}/pools/{name}")
        if pool is None:
            raise BatchError(404, "PoolNotFound", "The specified pool does not exist.")
        return pool

    async def body(self) -> JSON:
        raw = await self.http.read()
        try:
            doc = json.loads(raw) if raw else {}
        except ValueError as exc:
            raise BatchError(400, "InvalidRequestBody", f"The request body is not valid JSON: {exc}") from exc
        if not isinstance(doc, dict):
            raise BatchError(400, "InvalidRequestBody", "The request body must be a JSON object.")
        return doc


def _page(
    req: Request,
    items: list[Any],
    default: int,
    path: str,
    most: int | None = None,
    render: Callable[[Any], JSON] = lambda item: item,
) -> web.Response:
    """One page of ``items`` (``default`` long, or ``maxresults`` up to ``most``); only the page's
    items are rendered, so a listing of n items in pages costs O(n) in all, not O(n) per page."""
    query = req.http.query
    size = default
    if query.get("maxresults", "").isdigit():
        size = max(1, min(default if most is None else most, int(query["maxresults"])))
    skip = int(query.get("$skiptoken", "0") or 0) if query.get("$skiptoken", "0").isdigit() else 0
    page = [render(item) for item in items[skip : skip + size]]
    body: JSON = {"odata.metadata": f"{req.base}/$metadata", "value": page}
    if skip + size < len(items):
        params = {k: v for k, v in query.items() if k != "$skiptoken"}
        params["$skiptoken"] = str(skip + size)
        body["odata.nextLink"] = f"{req.base}{path}?{urlencode(params)}"
    return json_response(body)


def _states_filter(expr: str) -> set[str] | None:
    """``state eq 'unusable' or state eq 'starttaskfailed'`` -> the states; None = no filter."""
    if not expr.strip():
        return None
    states = set()
    for clause in expr.split(" or "):
        words = clause.strip().strip("()").split(None, 2)
        if len(words) != 3 or words[0].lower() != "state" or words[1].lower() != "eq":
            raise BatchError(
                400,
                "InvalidQueryParameterValue",
                "Value for one of the query parameters specified in the request URI is invalid.",
                [("QueryParameterName", "$filter"), ("QueryParameterValue", expr)],
            )
        states.add(words[2].strip("'\"").lower())
    return states


async def node_counts_list(req: Request) -> web.Response:
    req.authorize(req.account.id, "read", READ)
    # world.get brings a pool's allocation up to the simulated present (children() does not); it is
    # done for the page's pools only.
    pools = [
        p
        for p in req.world.children(req.account.id, T_POOL)
        if p.properties.get("provisioningState") != "Deleting"
    ]
    most = int(req.world.cfg("batch").get("nodeCountsMaxResults", 1000))

    def render(pool: Resource) -> JSON:
        return node_counts(req.world, req.world.get(pool.id) or pool)

    return _page(req, pools, NODE_COUNTS_PAGE, "/nodecounts", max(1, most), render)


async def nodes_list(req: Request, pool_name: str) -> web.Response:
    pool = req.pool(pool_name)
    req.authorize(pool.id, "read", READ)
    nodes = sync_nodes(req.world, pool)
    wanted = _states_filter(req.http.query.get("$filter", ""))
    items = [
        node_view(req.world, req.base, pool, node_id, key == "ded")
        for key in ("ded", "low")
        for node_id in nodes[key]
        if wanted is None or _node_state(nodes, node_id) in wanted
    ]
    return _page(req, items, NODES_PAGE, f"/pools/{pool.name}/nodes")


async def node_get(req: Request, pool_name: str, node_id: str) -> web.Response:
    pool = req.pool(pool_name)
    req.authorize(pool.id, "read", READ)
    nodes = sync_nodes(req.world, pool)
    for key in ("ded", "low"):
        if node_id in nodes[key]:
            return json_response(node_view(req.world, req.base, pool, node_id, key == "ded"))
    raise BatchError(404, "NodeNotFound", "The specified node does not exist.")


def _steady_fixed(pool: Resource) -> JSON:
    if pool.properties.get("provisioningState") == "Deleting":
        raise BatchError(
            409, "PoolBeingDeleted", "The specified pool has been marked for deletion and is being reclaimed."
        )
    if pool.properties.get("scaleSettings", {}).get("autoScale") is not None:
        raise BatchError(409, "AutoScalingEnabled", "The specified pool has automatic scaling enabled.")
    if pool.properties.get("allocationState") != "Steady":
        raise BatchError(409, "PoolBeingResized", "The specified pool is being resized.")
    fixed = pool.properties.setdefault("scaleSettings", {}).setdefault("fixedScale", {})
    assert isinstance(fixed, dict)
    return fixed


def _accepted(pool: Resource) -> web.Response:
    pool.etag = new_etag()
    return web.Response(status=202, headers={"ETag": pool.etag, "DataServiceId": pool.name})


async def pool_resize(req: Request, pool_name: str) -> web.Response:
    """Pool_Resize: always starts a resize toward the given targets (unlike an ARM PATCH)."""
    pool = req.pool(pool_name)
    req.authorize(pool.id, "action", WRITE)
    body = await req.body()
    fixed = _steady_fixed(pool)
    ded = int(body.get("targetDedicatedNodes", fixed.get("targetDedicatedNodes", 0)) or 0)
    low = int(body.get("targetLowPriorityNodes", fixed.get("targetLowPriorityNodes", 0)) or 0)
    if ded < 0 or low < 0:
        raise BatchError(400, "InvalidPropertyValue", "The target node counts must be non-negative.")
    try:
        timeout = parse_duration(body.get("resizeTimeout") or fixed.get("resizeTimeout"), 900.0)
    except ValueError as exc:
        raise BatchError(400, "InvalidPropertyValue", str(exc)) from exc
    if timeout < 300:
        raise BatchError(400, "InvalidPropertyValue", "The resizeTimeout must be at least 5 minutes.")
    fixed["targetDedicatedNodes"], fixed["targetLowPriorityNodes"] = ded, low
    if body.get("resizeTimeout") and parse_duration(fixed.get("resizeTimeout"), 900.0) != timeout:
        fixed["resizeTimeout"] = body["resizeTimeout"]
    now = req.world.clock.now()
    pool.properties["lastModified"] = iso(now)
    dealloc = body.get("nodeDeallocationOption") or fixed.get("nodeDeallocationOption")
    start_resize(req.world, pool, ded, low, timeout, dealloc, now)
    refresh_pool(req.world, pool)
    return _accepted(pool)


async def pool_stop_resize(req: Request, pool_name: str) -> web.Response:
    pool = req.pool(pool_name)
    req.authorize(pool.id, "action", WRITE)
    stop_resize(req.world, pool, req.world.clock.now())
    refresh_pool(req.world, pool)
    return _accepted(pool)


async def pool_remove_nodes(req: Request, pool_name: str) -> web.Response:
    pool = req.pool(pool_name)
    req.authorize(pool.id, "action", WRITE)
    body = await req.body()
    ids = [str(i) for i in body.get("nodeList") or []]
    if not ids or len(ids) > REMOVE_NODES_MAX:
        raise BatchError(
            400, "InvalidPropertyValue", f"nodeList must name between 1 and {REMOVE_NODES_MAX} nodes."
        )
    _steady_fixed(pool)
    nodes = sync_nodes(req.world, pool)
    known = set(nodes["ded"]) | set(nodes["low"])
    missing = [i for i in ids if i not in known]
    if missing:
        raise BatchError(404, "NodeNotFound", f"The specified node does not exist: {missing[0]}.")
    remove_nodes(req.world, pool, list(dict.fromkeys(ids)), req.world.clock.now())
    refresh_pool(req.world, pool)
    return _accepted(pool)


class DataPlane:
    """Routes ``/batch/<sub>/<rg>/<account>/...`` requests; authenticates with the Batch audience."""

    def __init__(self, world: World, issuer: TokenIssuer) -> None:
        self.world = world
        self.issuer = issuer
        self.base_url = ""
        previous_view = world.views.get(T_ACCOUNT.lower())
        previous_refresh = world.refreshers.get(T_POOL.lower())

        def account_view(w: World, res: Resource) -> JSON:
            view = previous_view(w, res) if previous_view else copy.deepcopy({"properties": res.properties})
            if self.base_url:
                view.setdefault("properties", {})["accountEndpoint"] = urlsplit(
                    self.base_url
                ).netloc + endpoint_path(res.id)
            return view

        def pool_refresh(w: World, res: Resource) -> None:
            if previous_refresh is not None:
                previous_refresh(w, res)
            sync_nodes(w, res)

        world.views[T_ACCOUNT.lower()] = account_view
        world.refreshers[T_POOL.lower()] = pool_refresh

    def routes(self) -> list[web.RouteDef]:
        return [web.route("*", PREFIX + "/{sub}/{rg}/{account}/{tail:.*}", self.handle)]

    def admin_routes(self) -> list[web.RouteDef]:
        return [web.post("/_sim/nodes", self.admin_set_nodes), web.get("/_sim/nodes", self.admin_get_nodes)]

    def _caller(self, request: web.Request) -> Caller:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise BatchError(401, "AuthenticationFailed", "Server failed to authenticate the request.")
        try:
            claims = self.issuer.validate(token.strip(), BATCH_AUDIENCES)
        except ArmError as exc:
            error = BatchError(401, exc.code, exc.message)
            error.headers = dict(exc.headers)
            raise error from exc
        return Caller(
            client_id=str(claims.get("appid", "")).lower(),
            object_id=str(claims.get("oid", "")),
            tenant=str(claims.get("tid", "")).lower(),
        )

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.world.tick()
        m = request.match_info
        account_id = (
            f"/subscriptions/{m['sub']}/resourceGroups/{m['rg']}"
            f"/providers/Microsoft.Batch/batchAccounts/{m['account']}"
        )
        base = f"{self.base_url}{endpoint_path(account_id)}"
        parts = [p for p in m["tail"].split("/") if p]
        route = self._route(request.method, parts)
        request[OPERATION_KEY] = route[0] if route else "Batch.Unknown"
        try:
            if not request.query.get("api-version"):
                raise BatchError(
                    400,
                    "MissingRequiredQueryParameter",
                    "A query parameter that's mandatory for this request is not specified.",
                    [("QueryParameterName", "api-version")],
                )
            caller = self._caller(request)
            request[PRINCIPAL_KEY] = caller.client_id
            account = self.world.get(account_id)
            if account is None:
                raise BatchError(404, "AccountNotFound", f"The Batch account {m['account']} does not exist.")
            if str(account.properties.get("publicNetworkAccess", "Enabled")).lower() == "disabled":
                raise BatchError(
                    403,
                    "AuthorizationFailure",
                    "This request is not authorized to perform this operation: the account's public "
                    "network access is disabled.",
                )
            if route is None:
                raise BatchError(
                    404,
                    "ResourceNotFound",
                    f"No data-plane operation for {request.method} /{'/'.join(parts)}.",
                )
            req = Request(request, self.world, account, caller, base)
            response: web.Response = await route[1](req, *route[2])
            return response
        except BatchError as exc:
            return exc.response(base)

    @staticmethod
    def _route(method: str, parts: list[str]) -> tuple[str, Any, tuple[str, ...]] | None:
        low = [p.lower() for p in parts]
        if method == "GET" and low == ["nodecounts"]:
            return "Batch.Account_ListPoolNodeCounts", node_counts_list, ()
        if len(low) >= 3 and low[0] == "pools":
            pool = parts[1]
            if method == "GET" and low[2:] == ["nodes"]:
                return "Batch.ComputeNode_List", nodes_list, (pool,)
            if method == "GET" and len(low) == 4 and low[2] == "nodes":
                return "Batch.ComputeNode_Get", node_get, (pool, parts[3])
            actions = {
                "resize": ("Batch.Pool_Resize", pool_resize),
                "stopresize": ("Batch.Pool_StopResize", pool_stop_resize),
                "removenodes": ("Batch.Pool_RemoveNodes", pool_remove_nodes),
            }
            if method == "POST" and len(low) == 3 and low[2] in actions:
                name, fn = actions[low[2]]
                return name, fn, (pool,)
        return None

    async def admin_set_nodes(self, request: web.Request) -> web.Response:
        try:
            body = json.loads(await request.read() or b"{}")
            pool = self.world.get(str(body.get("poolId") or ""))
            if pool is None or pool.type.lower() != T_POOL.lower():
                return json_response({"error": f"no pool {body.get('poolId')!r}"}, status=404)
            return json_response(set_nodes(self.world, pool, body))
        except (ValueError, TypeError, AttributeError) as exc:
            return json_response({"error": str(exc)}, status=400)

    async def admin_get_nodes(self, request: web.Request) -> web.Response:
        pool = self.world.get(request.query.get("poolId", ""))
        if pool is None or pool.type.lower() != T_POOL.lower():
            return json_response({"error": f"no pool {request.query.get('poolId')!r}"}, status=404)
        nodes = sync_nodes(self.world, pool)
        return json_response(
            {
                "nodeCounts": node_counts(self.world, pool),
                "special": {
                    i: {k: v for k, v in r.items() if k != "since"} for i, r in nodes["special"].items()
                },
            }
        )
